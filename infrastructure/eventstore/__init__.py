"""The event store: the case application (the write path), its recorders, integrity and keys.

- ``application``: ``CaseJourney``, the one entry point of the write path (load, decide, save);
- ``environment``: which recorder and cipher the library runs (by import, not by a string);
- ``store``: the recorders (SQLite, PostgreSQL): appends with a hash chain, in notification order;
- ``integrity``, ``digests``: the hash chain, verified, and signed statements of its head;
- ``crypto``, ``personal_data``: the payload keyring and personal data sealed per person;
- ``policies`` (and ``policy_files/``): the referral policies in force, versioned;
- ``safety_markers``: the policy that carries a safety marker from a case to the person;
- ``decoding``, ``log_reader``, ``catalogue``: reading stored events back fast, and their contract.
"""
