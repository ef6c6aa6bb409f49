"""The actions of the case journey, each declared once: its name, summary, roles and layers.

A command names its ``Action`` (``domain/case/commands.py``); the aggregate's guard reads the same
object (``Case._guard``), the matrix is derived from this table (``domain/rules/permissions.py``),
the HTTP routes take their path, summary and allowed roles from it, and the docs list it. Adding a
command adds one line here. An ``Action`` is a ``str`` (its name), so it is stored, compared and
printed as the name it has always been.

The layers (see ``permissions.py`` for why each exists):

- ``specialist_team_only``: on a Specialist Case Team case, only a current member of the team;
- ``team_decision``: only a current member of the actor's own team;
- ``manager_only``: only the case's enforcement manager, or an override with a reason;
- ``after_closure``: still accepted on a closed case.
"""

from __future__ import annotations

from domain.values import Role

CW = Role.CASEWORKER
SCW = Role.SPECIALIST_CASEWORKER
EM = Role.ENFORCEMENT_MANAGER
ACSSL = Role.ACS_SENIOR_LEADER
SVC = Role.BACKEND_SERVICE
TL = Role.TEAM_LEADER

#: Everyone in contact with a customer.
PEOPLE_IN_CONTACT = frozenset({CW, SCW, EM, ACSSL, SVC})


class Action(str):
    """One action of the case journey: a ``str`` (its name) that knows its summary, roles and layers."""

    summary: str
    roles: frozenset[Role]
    specialist_team_only: bool
    team_decision: bool
    manager_only: bool
    after_closure: bool

    def __new__(
        cls,
        name: str,
        summary: str,
        roles: frozenset[Role],
        *,
        specialist_team_only: bool = False,
        team_decision: bool = False,
        manager_only: bool = False,
        after_closure: bool = False,
    ) -> Action:
        action = super().__new__(cls, name)
        action.summary = summary
        action.roles = roles
        action.specialist_team_only = specialist_team_only
        action.team_decision = team_decision
        action.manager_only = manager_only
        action.after_closure = after_closure
        return action

    @property
    def name(self) -> str:
        return str.__str__(self)

    @property
    def path(self) -> str:
        """The segment of its HTTP route: ``/cases/{id}/<path>``."""
        return self.replace("_", "-")

    def __reduce__(self) -> tuple[type[str], tuple[str]]:
        return (str, (str(self),))  # pickled (e.g. to a worker process) as its name


RECEIVE_APPLICATION = Action("receive_application", "Open a case: an application received", frozenset({CW, SCW, SVC}))
# Never the person named (a rule of the aggregate): allocation by a team leader, the
# allocation service or a colleague handing over.
ASSIGN_CASEWORKER = Action(
    "assign_caseworker", "Assign the named caseworker", frozenset({CW, SCW, SVC, TL}), specialist_team_only=True
)
CHANGE_SERVICE_TYPE = Action(
    "change_service_type",
    "Change the service type (e.g. Direct Pay to Collect and Pay)",
    frozenset({CW, SCW, SVC}),
    specialist_team_only=True,
)
# Anyone in contact with a customer can hear a disclosure: every one of them may record it.
RECORD_CONCERN = Action("record_concern", "Record a safeguarding concern", PEOPLE_IN_CONTACT, after_closure=True)
RESOLVE_CONCERN = Action(
    "resolve_concern", "Resolve a concern, with the reason", frozenset({CW, SCW}), specialist_team_only=True
)
GIVE_SIGNPOSTING = Action(
    "give_signposting",
    "Record signposting given, and whether it resolved the concern",
    frozenset({CW, SCW, EM, ACSSL}),
    after_closure=True,
)
ASSESS_SAFETY_RISK = Action(
    "assess_safety_risk",
    "Record a safety risk assessment (the caseworker's judgement)",
    frozenset({CW, SCW}),
    specialist_team_only=True,
)
END_POLICE_INVOLVEMENT = Action(
    "end_police_involvement",
    "Record that police involvement has ended",
    frozenset({CW, SCW}),
    specialist_team_only=True,
)
RECORD_ACS_INVOLVEMENT = Action(
    "record_acs_involvement", "Record Advanced Customer Support involvement", frozenset({CW, SCW, ACSSL, SVC})
)
DECIDE_REFERRAL = Action(
    "decide_referral", "Decide a referral to the Specialist Case Team under the policy in force", frozenset({CW, SCW})
)
ACCEPT_REFERRAL = Action(
    "accept_referral", "Accept a referral into the Specialist Case Team", frozenset({SCW}), team_decision=True
)
START_ENFORCEMENT = Action(
    "start_enforcement", "Start enforcement with one enforcement manager", frozenset({CW, SCW, EM})
)
HAND_OVER_ENFORCEMENT = Action(
    "hand_over_enforcement",
    "Hand enforcement over to another manager, with a reason",
    frozenset({EM, TL}),
    manager_only=True,
)
END_ENFORCEMENT = Action("end_enforcement", "End enforcement", frozenset({EM, TL}), manager_only=True)
OPEN_EXPEDITED_PATHWAY = Action(
    "open_expedited_pathway",
    "Open an expedited pathway (safeguarding, homelessness risk, hardship)",
    frozenset({CW, SCW, EM, ACSSL}),
)
CLOSE_EXPEDITED_PATHWAY = Action("close_expedited_pathway", "Close an expedited pathway", frozenset({CW, SCW, ACSSL}))
RECORD_DEADLINE_MISSED = Action(
    "record_deadline_missed", "Record a missed pathway target (escalates to an ACS senior leader)", frozenset({SVC})
)
RAISE_ESCALATION = Action(
    "raise_escalation", "Escalate the case to an ACS senior leader", frozenset({CW, SCW, EM, SVC})
)
RESOLVE_ESCALATION = Action("resolve_escalation", "Resolve an escalation", frozenset({ACSSL}))
RAISE_SERVICE_DESIGN_ISSUE = Action("raise_service_design_issue", "Raise a service-design issue", frozenset({ACSSL}))
REQUEST_REMOVAL = Action(
    "request_removal", "Request removal from the Specialist Case Team", frozenset({SCW}), team_decision=True
)
DECIDE_REMOVAL = Action(
    "decide_removal",
    "Decide a removal request (refused while any doubt remains)",
    frozenset({SCW, ACSSL}),
    team_decision=True,
)
CLOSE_CASE = Action("close_case", "Close the case", frozenset({CW, SCW, SVC}), specialist_team_only=True)
RECORD_ENTRY_IN_ERROR = Action(
    "record_entry_in_error",
    "Record that an entry was made in error (a correction)",
    frozenset({CW, SCW, ACSSL}),
    specialist_team_only=True,
    after_closure=True,
)

#: Every action of a case, in the order of the journey.
CASE_ACTIONS: tuple[Action, ...] = (
    RECEIVE_APPLICATION,
    ASSIGN_CASEWORKER,
    CHANGE_SERVICE_TYPE,
    RECORD_CONCERN,
    RESOLVE_CONCERN,
    GIVE_SIGNPOSTING,
    ASSESS_SAFETY_RISK,
    END_POLICE_INVOLVEMENT,
    RECORD_ACS_INVOLVEMENT,
    DECIDE_REFERRAL,
    ACCEPT_REFERRAL,
    START_ENFORCEMENT,
    HAND_OVER_ENFORCEMENT,
    END_ENFORCEMENT,
    OPEN_EXPEDITED_PATHWAY,
    CLOSE_EXPEDITED_PATHWAY,
    RECORD_DEADLINE_MISSED,
    RAISE_ESCALATION,
    RESOLVE_ESCALATION,
    RAISE_SERVICE_DESIGN_ISSUE,
    REQUEST_REMOVAL,
    DECIDE_REMOVAL,
    CLOSE_CASE,
    RECORD_ENTRY_IN_ERROR,
)
ACTIONS_BY_NAME: dict[str, Action] = {a.name: a for a in CASE_ACTIONS}
