"""The sample journeys: every story of SCENARIOS.md as commands, and the demo roster they need.

Used by ``casejourney demo``, the tests and the benchmarks.
"""
