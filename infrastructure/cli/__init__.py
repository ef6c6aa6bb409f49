"""`casejourney`, the command line: ``main`` builds it from one module per command group.

``common`` holds what every group shares and imports none of them; ``text`` escapes stored text
for the terminal. See ``main`` for the groups.
"""
