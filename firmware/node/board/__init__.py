# SPDX-License-Identifier: MIT
# Board support: the only place that touches machine.*; chosen by sys.platform.
