"""The outer house: everything that is not the domain (``domain/``) or a pure fold (``projections/``).

Rooms, one package each: ``eventstore`` (the write path), ``access`` (need to know, recorded),
``readmodels`` (the tables kept from the log), ``audit`` (replays, reports, pages), ``http`` (the
API), ``cli`` (the command line), ``samples`` (the stories). Beside them only ``settings`` and
``files`` (private files), which every room may use.
"""
