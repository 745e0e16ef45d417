"""Reproductions of published results, run by ``fairjax reproduce <name>``."""
