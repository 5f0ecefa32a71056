"""Fourier progress measures of modular-arithmetic models: functions of plain arrays (:mod:`.fourier`) and the
record the full-batch trainer writes while training (:mod:`.progress`). Below the trainers, so that they can
record them; the run-level Fourier analysis is :mod:`mathlens.analysis.grokking`."""
