"""Read models: the tables the projections are kept in, one module per read model.

- ``team_assignment``, ``safeguarding_history``, ``caseloads``, ``expedited_queue``: each holds
  its table, ``apply`` (a batch of events), ``build_case`` (one case from nothing), its query and
  its ``SPEC``; the pure fold is the package of the same name in ``projections/``;
- ``registry``: ``PROJECTIONS``, the specs by name; ``spec``: ``ProjectionSpec``;
- ``engine``: the engine, column types, the sealer, the tracking tables, batch and COPY helpers;
- ``models``: ``ReadModels``: catch up, rebuild beside the live tables, verify, swap, status;
- ``runner``: ``ProjectionRunner``, the long-running follower; ``leases``: one writer per projection;
- ``case_build``: a rebuild in case order, in parallel parts; ``feed``: notifications decoded;
- ``errors``: what stops a projection; ``queries``: what the GET routes ask (from the log or tables).
"""
