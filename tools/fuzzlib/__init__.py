"""Format fuzzing of oxy's readers (``tools/fuzz_formats.py``). See docs/reliability.md.

Modules: ``layout`` (where every field of a seed lies, derived from the construct
declarations in ``oxy.formats``), ``seeds`` (seed content made at run time),
``mutate`` (deterministic mutation recipes), ``check`` (one input through validate,
inspect, the CLI and the loader; outcome classes), ``campaign`` (worker processes,
aggregation, report).
"""
