"""Experiments registered under ``m0sim run NAME`` (entry-point group ``m0sim.experiments``)."""
