# SPDX-License-Identifier: MIT
"""The evaluation pipeline on a tiny configuration writes valid JSON, markdown and PNG,
and its numbers are consistent with themselves."""
import json

import pytest

from host_tools import evaluate


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    res = evaluate.run(out_dir=str(out), quick=True, hours=2 / 60.0, real_root=None, with_cost=False)
    return out, res


def test_outputs_written_and_valid(result):
    out, res = result
    doc = json.loads((out / "latest.json").read_text())
    assert doc["quick"] is True
    assert set(doc["benchmark"]["by_snr"]) == {str(s) for s in evaluate.SNRS}
    md = (out / "report.md").read_text()
    assert "| SNR dB | class |" in md and "False alarms" in md and "scene.png" in md
    # how long each stage took (the run had no real clips and no cost estimate)
    assert list(doc["stage_s"]) == ["benchmark", "parity", "false_alarms"]
    assert all(v >= 0 for v in doc["stage_s"].values())
    assert sum(doc["stage_s"].values()) <= doc["elapsed_s"] + 0.1
    assert "Stages: benchmark " in md
    png = (out / "scene.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000


def test_numbers_are_consistent(result):
    _, res = result
    b = res["benchmark"]
    n_ref = sum(s["n_ref"] for s in b["scenes"])
    assert b["overall"]["overall"]["n_ref"] == n_ref > 0
    tp = sum(s["tp"] for s in b["scenes"])
    assert b["overall"]["overall"]["tp"] == tp
    conf = b["confusion"]
    assert sum(conf[c][c] for c in evaluate.CLASSES) == tp
    hi = b["pooled_snr_ge_10"]                            # the 10 dB and above rows, counts summed
    for c in evaluate.CLASSES:
        rows = [g["classes"][c] for s, g in b["by_snr"].items() if int(s) >= 10]
        assert [hi["classes"][c][k] for k in ("n_ref", "tp", "fp")] == \
            [sum(r[k] for r in rows) for k in ("n_ref", "tp", "fp")]
    for s, g in b["by_snr"].items():                      # each row's interval holds its pooled figure
        for c in evaluate.CLASSES:
            ci, k = b["by_snr_ci95"][s][c], g["classes"][c]
            assert ci["f1"][0] - 1e-9 <= k["f1"] <= ci["f1"][1] + 1e-9
            assert ci["error_rate"][0] - 1e-9 <= k["error_rate"] <= ci["error_rate"][1] + 1e-9
    fa = res["false_alarms"]
    assert fa["hours"] == pytest.approx(2 / 60.0)        # whole 60 s chunks
    assert fa["per_hour"] == pytest.approx(fa["false_alarms"] / fa["hours"])
    lo, hi = fa["per_hour_ci95"]                          # exact Poisson interval around the rate
    assert lo <= fa["per_hour"] < hi and hi >= 3.68 / fa["hours"] - 1e-6
    assert res["parity"]["all_identical"] is True and len(res["parity"]["scenes"]) == 1


def test_latency_definition():
    ref = [{"class": "gunshot", "onset_s": 1.0, "offset_s": 1.5}, {"class": "scream", "onset_s": 3.0, "offset_s": 4.0}]
    est = [{"class": "gunshot", "onset_s": 1.01, "report_s": 1.2}, {"class": "scream", "onset_s": 3.0, "report_s": 4.1}]
    lat = evaluate.latency(est, ref, [(0, 0), (1, 1)])
    assert lat["gunshot"] == [pytest.approx(0.2)] and lat["scream"] == [pytest.approx(0.1)]


def test_latency_target_judges_every_detection():
    # the target: every report within 0.3 s of the onset (gunshot) or the end (others); one late
    # report fails it whatever the share within 0.3 s
    def res(gun, scream):
        cls = {"f1": 1.0, "error_rate": 0.0}
        return {"benchmark": {"by_snr": {"10": {"classes": {c: cls for c in evaluate.CLASSES}}},
                              "latency": {"gunshot": evaluate._lat_summary(gun),
                                          "scream": evaluate._lat_summary(scream), "glass_break": None}},
                "false_alarms": {"per_hour": 0.0}}
    t = evaluate.targets(res([0.2] * 99 + [0.31], [-1.0, 0.3]))
    assert t["met"]["latency_gunshot_max_s"] is False and t["values"]["latency_gunshot_max_s"] == pytest.approx(0.31)
    assert t["met"]["latency_scream_max_s"] is True and "latency_glass_break_max_s" not in t["met"]
    assert evaluate.targets(res([0.1, 0.3], [0.0]))["met"]["latency_gunshot_max_s"] is True
    assert set(t["met"]) <= set(t["values"])       # the report's "measured" column is never empty


def test_the_cause_of_a_late_report_is_read_from_the_decisions_in_time():
    def d(after, cls, conf, thr, clear=None, reported=False):
        return {"after_s": after, "class": evaluate.events.class_id(cls), "confidence": conf, "threshold": thr,
                "threshold_clear": thr if clear is None else clear, "reported": reported}
    late = d(0.6, "gunshot", 90, 65, reported=True)                 # the report, after the budget
    cause = evaluate.late_cause
    assert cause([d(0.25, "gunshot", 95, 97, clear=92), late]) == "quiet segment"
    assert cause([d(0.25, "gunshot", 91, 97, clear=92), late]) == "answered below its threshold"
    assert cause([d(0.2, "gunshot", 93, 92), late]) == "held as a fragment"
    assert cause([d(0.2, "none", 93, 101), d(0.25, "scream", 80, 99), late]) == "answered none or another class"
    assert cause([late]) == "no decision in time"
    assert cause([d(0.31, "gunshot", 95, 97, clear=92), late]) == "no decision in time"     # not in time
    assert cause([d(0.2, "gunshot", 95, 97, clear=92), d(0.25, "gunshot", 50, 92), late]) == "quiet segment"


def test_late_gunshots_are_traced_to_the_decisions_that_held_them(monkeypatch):
    # with no early or interim gunshot decision counting, every shot is reported at its segment's
    # end; the benchmark's late reports are traced from their scenes, and each trace ends at the
    # very decision (and latency) the benchmark measured, the on-time answers below 101
    from node import detect_table as T
    for k in ("conf_early", "conf_first_gunshot", "conf_mid_gunshot"):
        monkeypatch.setitem(T.PARAMS, k, 101)
    opts = dict(evaluate.QUICK, scenes_per_snr=4)
    b = evaluate.benchmark(evaluate.detect.default_cfg(), opts)
    late = b["late_gunshots"]
    lat = b["latency"]["gunshot"]
    assert late["n"] == round(lat["n"] * (1 - lat["share_within_0.3s"])) >= 1, (late, lat)
    assert late["traced"] == min(late["n"], evaluate.LATE_TRACE_MAX)
    assert late["shots"][0]["latency_s"] == pytest.approx(lat["max_s"], abs=1e-4)      # the latest first
    for v in late["shots"]:
        assert v["latency_s"] > 0.3 and v["reported_by"] == "end", v
        last = [d for d in v["decisions"] if d["reported"]][-1]
        assert last["after_s"] == pytest.approx(v["latency_s"], abs=1e-3) and last["kind"] == "end"
        assert v["cause"] in ("answered below its threshold", "answered none or another class", "no decision in time")
        assert all(d["threshold"] == 101 for d in v["decisions"] if d["kind"] != "end" and d["answer"] == "gunshot")
    assert sum(late["by_cause"].values()) == late["traced"]
    md = "\n".join(evaluate._late_md(late))
    assert "Gunshots reported later than 0.3 s" in md and md.count("| end |") == late["traced"]


def test_the_cause_of_a_miss_is_read_from_its_segments_and_their_decisions():
    def d(start, cls, conf, thr, clear=None, reported=False):
        return {"after_s": 0.3, "start_s": start, "class": evaluate.events.class_id(cls), "confidence": conf,
                "threshold": thr, "threshold_clear": thr if clear is None else clear, "reported": reported}
    scream = evaluate.events.class_id("scream")
    cause = lambda ds, est=(): evaluate.miss_cause(scream, 10.0, 11.0, ds, list(est))     # noqa: E731
    far = {"class": "scream", "onset_s": 9.3, "duration_s": 2.0}                  # covers it, 0.7 s early
    assert cause([d(-0.7, "scream", 99, 97, reported=True)], [far]) == "reported, onset outside the collar"
    assert cause([d(-0.7, "none", 99, 101)], [dict(far, **{"class": "gunshot"})]) == "no segment of its own"
    assert cause([d(-0.6, "scream", 80, 88), d(0.6, "scream", 80, 88)]) == "no segment of its own"
    assert cause([d(-0.6, "scream", 99, 88), d(0.1, "scream", 93, 95, clear=88)]) == "quiet segment"
    assert cause([d(0.45, "scream", 93, 88)]) == "held as a fragment"
    assert cause([d(0.0, "scream", 87, 88), d(0.0, "none", 99, 101)]) == "answered below its threshold"
    assert cause([d(0.0, "gunshot", 87, 65, reported=True)]) == "answered none or another class"
    assert cause([d(0.0, "scream", 87, 88)], [dict(far, onset_s=10.2)]) == "answered below its threshold"


def test_events_missed_where_the_targets_apply_are_traced(monkeypatch):
    # with every threshold at never, nothing is reported: every labelled event at 10 dB and
    # above is a miss, traced from its scene to the decisions that let it go
    from node import detect_table as T
    for k in T.PARAMS:
        if k.startswith("conf_"):
            monkeypatch.setitem(T.PARAMS, k, 101)
    opts = dict(evaluate.QUICK, scenes_per_snr=1)
    b = evaluate.benchmark(evaluate.detect.default_cfg(), opts)
    m = b["missed"]
    fn = sum(v["classes"][c]["fn"] for s, v in b["by_snr"].items() if int(s) >= 10 for c in evaluate.CLASSES)
    assert m["n"] == fn == m["traced"] >= 3, (m["n"], fn)
    assert sum(m["by_cause"].values()) == m["traced"]
    assert sum(n for v in m["by_class"].values() for n in v.values()) == m["traced"]
    for v in m["events"]:
        assert v["snr_db"] >= 10 and v["cause"] in ("no segment of its own", "answered below its threshold",
                                                    "answered none or another class"), v
        assert not any(d["reported"] for d in v["decisions"])
        assert all(-0.02 <= d["after_s"] <= v["duration_s"] + evaluate.MISS_AFTER_S + 1e-6 for d in v["decisions"])
    assert any(d["decisions"] for d in m["events"])
    md = "\n".join(evaluate._missed_md(m))
    assert "Events missed at SNR ≥ 10 dB: %d; all traced" % m["n"] in md and md.count("\n| ") == m["traced"] + 1


def test_the_cost_target_reads_the_instruction_count_when_there_is_one():
    base = {"benchmark": {"by_snr": {}, "latency": {}}, "false_alarms": {"per_hour": 0.0}}
    timed = {"est_esp32_cpu_percent": 12.4}               # a make eval timed beside other work
    t = evaluate.targets(dict(base, cost=dict(timed, est_esp32_cpu_percent_counted=1.2)))
    assert t["values"]["cpu_percent"] == 1.2 and t["met"]["cpu_percent"] is True
    t = evaluate.targets(dict(base, cost=timed))        # no valgrind: the timed figure is all there is
    assert t["values"]["cpu_percent"] == 12.4 and t["met"]["cpu_percent"] is False


@pytest.mark.parametrize("make", ["file", "under_a_file"])
def test_an_unusable_output_folder_is_refused_before_any_work(tmp_path, capsys, monkeypatch, make):
    # a file where the folder should be: a one-line error and exit code 2 at once, not a
    # traceback after minutes of evaluation
    from host_tools import cli
    blocker = tmp_path / "report"
    blocker.write_text("not a folder")
    out = blocker if make == "file" else blocker / "sub"
    monkeypatch.setattr(evaluate, "benchmark", lambda *a, **k: pytest.fail("ran before checking the folder"))
    rc = cli.main(["eval", "--quick", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and str(out) in err, err
