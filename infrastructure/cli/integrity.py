"""`casejourney verify`, `digest` and `keys`: tamper evidence and keys, for operators and auditors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from domain.customer.commands import EraseCustomer
from domain.errors import DomainError
from domain.values import Actor, Role
from infrastructure.cli.common import console, err, fail, open_app
from infrastructure.cli.text import safe
from infrastructure.eventstore.application import ErasurePlan
from infrastructure.eventstore.checkpoints import checkpoint_signer, make_checkpoint
from infrastructure.eventstore.crypto import Keyring, new_signing_key
from infrastructure.eventstore.digests import Digest, DigestError, check_signature, sign
from infrastructure.eventstore.integrity import ChainRow, Verification, verify_case, verify_log
from infrastructure.eventstore.signed_note import NoteError
from infrastructure.files import write_private
from infrastructure.settings import Settings


def _progress_rows(rows: Iterator[ChainRow], total: int, enabled: bool) -> Iterator[ChainRow]:
    """Passes rows through, drawing a progress bar on a terminal (long verifications show progress)."""
    if not enabled or total == 0:
        yield from rows
        return
    columns = (TextColumn("verifying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("chain", total=total)
        for n, row in enumerate(rows, 1):
            yield row
            if n % 5000 == 0:
                progress.update(task, completed=row.position)
        progress.update(task, completed=total)


def register(cli: typer.Typer) -> None:
    @cli.command()
    def verify(
        ctx: typer.Context,
        case: Annotated[UUID | None, typer.Option(help="Verify one case's events only.")] = None,
        since: Annotated[Path | None, typer.Option(help="A digest file: prove the log only grew since.")] = None,
    ) -> None:
        """Walk the hash chain; report the first broken link and exit non-zero if there is one."""
        settings: Settings = ctx.obj
        digest = _read_digest(since, settings) if since else None
        with open_app(ctx) as app:
            recorder = app.recorder
            if case is not None:
                result: Verification = verify_case(recorder.case_chain_rows(case))  # type: ignore[attr-defined]
                if result.checked == 0 and result.ok:
                    fail(f"No case with id {case}.")
            else:
                total = recorder.max_notification_id() or 0
                rows = _progress_rows(recorder.chain_rows(), total, sys.stderr.isatty())  # type: ignore[attr-defined]
                result = verify_log(rows)
                if digest is not None and result.ok:
                    anchored: ChainRow | None = recorder.chain_row_at(digest.position)  # type: ignore[attr-defined]
                    if anchored is None or anchored.chain_hash is None or anchored.chain_hash.hex() != digest.head_hash:
                        err.print(
                            f"[bold red]BROKEN[/] the event at position {digest.position} no longer has the digest's"
                            " hash: history before the digest was rewritten or truncated."
                        )
                        raise typer.Exit(1)
        if not result.ok:
            assert result.first_break is not None
            err.print(f"[bold red]BROKEN[/] after {result.checked} good events: {safe(result.first_break.describe())}")
            raise typer.Exit(1)
        scope = f"case {case}" if case else "the log"
        console.print(
            f"[bold green]OK[/] {scope}: {result.checked} events chained; head at position {result.head_position},"
            f" hash {result.head_hash.hex()}"
        )
        if digest is not None:
            console.print(
                f"The log has only grown since the digest of {digest.issued_at.isoformat()}"
                f" (position {digest.position})."
            )

    @cli.command()
    def digest(
        ctx: typer.Context,
        out: Annotated[Path | None, typer.Option(help="Write the digest here instead of standard output.")] = None,
    ) -> None:
        """Verify the chain, then sign a statement of its head (position, hash, time) to keep elsewhere."""
        settings: Settings = ctx.obj
        if settings.digest_signing_key is None:
            fail("no signing key: set CASEJOURNEY_DIGEST_SIGNING_KEY (make one with `casejourney keys`).", 2)
        with open_app(ctx) as app:
            result = verify_log(app.recorder.chain_rows())  # type: ignore[attr-defined]
            if not result.ok:
                assert result.first_break is not None
                fail(f"refusing to sign a broken log: {safe(result.first_break.describe())}")
            signed = sign(
                app.name,
                result.head_position,
                result.head_hash,
                result.checked,
                app.clock(),
                settings.digest_signing_key.get_secret_value(),
            )
        text = signed.model_dump_json(indent=2) + "\n"
        if out:
            write_private(out, text)
            console.print(f"Digest of {result.checked} events written to {out}. Keep a copy outside this system.")
        else:
            sys.stdout.write(text)

    @cli.command()
    def checkpoint(
        ctx: typer.Context,
        out: Annotated[Path | None, typer.Option(help="Write the checkpoint here instead of standard output.")] = None,
        verifier_key: Annotated[
            bool, typer.Option("--verifier-key", help="Print the key auditors check checkpoints with, and stop.")
        ] = False,
    ) -> None:
        """Verify the chain, grow the log's Merkle tree, and sign a checkpoint of it (size, root hash, time)."""
        settings: Settings = ctx.obj
        try:
            signer = checkpoint_signer(settings)
        except (NoteError, OSError) as exc:
            fail(f"the checkpoint signing key cannot be used: {exc}", 2)
        if verifier_key:
            sys.stdout.write(signer.verifier().text() + "\n")
            return
        with open_app(ctx) as app:
            result = verify_log(app.recorder.chain_rows())  # type: ignore[attr-defined]
            if not result.ok:
                assert result.first_break is not None
                fail(f"refusing to sign a broken log: {safe(result.first_break.describe())}")
            note = make_checkpoint(
                app.recorder, signer, settings.checkpoint_origin, app.clock(), until=result.head_position
            )
        if out:
            write_private(out, note)
            console.print(f"Checkpoint of {result.checked} events written to {out}.")
        else:
            sys.stdout.write(note)

    @cli.command()
    def erase(
        ctx: typer.Context,
        party_id: Annotated[str, typer.Argument(help="The customer (party id) whose personal data is erased.")],
        reason: Annotated[str, typer.Option(help="Why (e.g. the retention period that ended); recorded.")],
        actor: Annotated[str, typer.Option(help="Who runs the erasure (recorded as a backend service).")],
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Show what would go and what stays; erase nothing.")
        ] = False,
        yes: Annotated[bool, typer.Option("--yes", help="Do not ask (needed when not at a terminal).")] = False,
    ) -> None:
        """Erase a customer's personal data: the erasure is recorded, their key destroyed, the audit trail kept.

        An unknown party is refused (exit 1); on a terminal it asks first, elsewhere it needs --yes.
        """
        try:
            command = EraseCustomer(party_id=party_id, reason=reason)
            who = Actor(actor, Role.BACKEND_SERVICE)
        except (ValidationError, ValueError) as exc:
            fail(f"invalid erasure: {exc}", 2)
        with open_app(ctx) as app:
            plan = app.erasure_plan(party_id)
            if not plan.known:
                fail(
                    f"No party {party_id} is known to this store (no customer record, no case names them):"
                    " nothing was erased. Check the id.",
                    1,
                )
            _show_plan(plan)
            if dry_run:
                console.print("Dry run: nothing was erased.")
                return
            if not yes:
                if not sys.stdin.isatty():
                    fail("Not at a terminal: run again with --yes to erase (or --dry-run to look first).", 2)
                if not typer.confirm(f"Erase the personal data of {party_id}? This cannot be undone", default=False):
                    fail("Nothing was erased.", 1)
            try:
                kept = app.erase_customer(command, who)
            except DomainError as exc:
                fail(exc.message)
        console.print(
            f"Erased the personal data of {safe(party_id)} and the free text of their closed cases: the keys are"
            " destroyed; histories replay with it shown as \\[erased] and the chain still verifies."
        )
        for case_id, holds in kept.items():
            console.print(
                f"Kept under hold, until it ends: the free text of case {case_id} ({safe('; '.join(holds))})."
            )

    def _show_plan(plan: ErasurePlan) -> None:
        cases = ", ".join(str(c) for c in plan.cases) or "none"
        console.print(f"Party {safe(plan.party_id)}: named on {len(plan.cases)} case(s): {cases}.")
        if plan.already_erased:
            console.print("Already erased: running again only completes it (the key stays destroyed).")
        if plan.details_recorded:
            console.print(
                f"Goes: their key, so the personal data recorded {plan.details_recorded} time(s) (name, address,"
                " phone, e-mail, bank details) reads as \\[erased] everywhere, and none can be recorded again."
            )
        else:
            console.print("Goes: no personal data is recorded for them; none can be recorded after this.")
        if plan.cases:
            console.print(
                "Goes too: the free text of their cases (notes, reasons, corrections, the purposes of reads of"
                " them), by destroying each case's text key."
            )
        for hold in plan.holds:
            console.print(f"Held, so erasure is refused: {safe(hold)}")
        if plan.open_cases:
            opened = ", ".join(map(str, plan.open_cases))
            console.print(f"Open, so erasure is refused until they close: {len(plan.open_cases)} case(s): {opened}.")
        for case_id, holds in plan.texts_held.items():
            console.print(
                f"Kept under a hold on the other party: the free text of case {case_id}: {safe('; '.join(holds))}"
            )
        markers = ", ".join(plan.safety_markers) or "none"
        console.print(
            f"Stays: every event and the hash chain, the case histories, and the safety markers ({safe(markers)})."
        )

    @cli.command()
    def keys() -> None:
        """Print new keys for the settings: a payload cipher keyring entry and a digest signing pair."""
        private, public = new_signing_key()
        sys.stdout.write(
            f"CASEJOURNEY_CIPHER_KEYS={Keyring.new_key_text('k1')}\n"
            f"CASEJOURNEY_DIGEST_SIGNING_KEY={private}\n"
            f"CASEJOURNEY_DIGEST_PUBLIC_KEY={public}\n"
        )


def _read_digest(path: Path, settings: Settings) -> Digest:
    try:
        digest = Digest.model_validate_json(path.read_text())
        check_signature(digest, settings.digest_public_key)
    except (OSError, ValidationError, DigestError) as exc:
        fail(f"digest {path}: {exc}", 2)
    return digest
