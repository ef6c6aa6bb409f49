"""`casejourney verify`, `digest` and `keys`: tamper evidence and keys, for operators and auditors."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from domain.customer.commands import EraseCustomer
from domain.errors import DomainError
from domain.values import Actor, Role
from infrastructure.access.log import AccessLog
from infrastructure.cli.common import console, err, fail, open_app, output_format
from infrastructure.cli.text import safe
from infrastructure.eventstore.application import CaseJourney, ErasurePlan
from infrastructure.eventstore.checkpoints import checkpoint_signer, trusted_verifier
from infrastructure.eventstore.crypto import Keyring
from infrastructure.eventstore.digests import Digest, DigestError, check_signature
from infrastructure.eventstore.integrity import ChainRow, Verification, verify_case
from infrastructure.eventstore.schema import read_mode
from infrastructure.eventstore.signed_note import Checkpoint, NoteError, Signer, Verifier, open_note
from infrastructure.eventstore.store_check import StoreVerification, sign_verified, verify_store
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
        since: Annotated[
            Path | None,
            typer.Option(help="A checkpoint (or an older digest) kept elsewhere: prove the log only grew since."),
        ] = None,
        public_key: Annotated[
            str | None,
            typer.Option(
                help="The key to trust for --since and the stored checkpoints (a verifier key), or an older"
                " JSON digest's Ed25519 key."
            ),
        ] = None,
        output: Annotated[str, typer.Option("--format", help="text or json (one document on stdout)")] = "text",
    ) -> None:
        """Verify every record that is evidence: the case log (its chain and Merkle tree), the signed
        checkpoints, the access log, the chain heads and the keys (a key may go only with its recorded
        erasure). One line per record; exit 1 at the first problem, 2 if a key cannot be trusted."""
        settings: Settings = ctx.obj
        as_json = output_format(output) == "json"
        with open_app(ctx, reads=True) as app:  # the store first: a missing one refused before a key is made
            # A verifier key (name+hash+key) is trusted for the checkpoints; a bare Ed25519 key is an
            # older JSON digest's, for --since only.
            trusted = _trusted_verifier(settings, public_key if _is_verifier_key(public_key) else None)
            given = _read_since(since, settings, public_key, trusted) if since else None
            if case is not None:
                result: Verification = verify_case(app.recorder.case_chain_rows(case))  # type: ignore[attr-defined]
                if result.checked == 0 and result.ok:
                    fail(f"No case with id {case}.")
                if as_json:
                    _print_json(
                        {"ok": result.ok, "store": settings.describe_store(), "case": str(case)} | _log_json(result)
                    )
                    raise typer.Exit(0 if result.ok else 1)
                if not result.ok:
                    assert result.first_break is not None
                    err.print(
                        f"[bold red]BROKEN[/] after {result.checked} good events: {safe(result.first_break.describe())}"
                    )
                    raise typer.Exit(1)
                console.print(
                    f"[bold green]OK[/] case {case}: {result.checked} events chained; head at position"
                    f" {result.head_position}, hash {result.head_hash.hex()}"
                )
                return
            # Read where the case store is read (a standby, a reader role): on PostgreSQL with no DDL.
            log = AccessLog(app.settings, text_keys=app.text_keys, schema=read_mode(app.settings))
            try:
                progress = sys.stderr.isatty()
                checked = verify_store(
                    app,
                    log,
                    trusted,
                    rows=lambda rows, total: _progress_rows(rows, total, progress),
                    since=given.checkpoint if isinstance(given, _Since) else None,
                )
                digest_broken = (
                    _digest_contradicted(app, given) if isinstance(given, Digest) and checked.log.ok else None
                )
            finally:
                log.close()
        if as_json:
            document = {
                "ok": checked.ok and not digest_broken,
                "store": settings.describe_store(),
                "case_log": _log_json(checked.log)
                | {"tree_size": checked.tree_size, "tree_root": checked.tree_root.hex()},
                "records": [{"record": f.record, "ok": f.ok, "detail": f.detail} for f in checked.findings],
            }
            if isinstance(given, Digest):
                document["since_digest"] = {
                    "issued_at": given.issued_at.isoformat(),
                    "position": given.position,
                    "only_grown": checked.log.ok and not digest_broken,
                    "problem": digest_broken,
                }
            _print_json(document)
            raise typer.Exit(0 if document["ok"] else 1)
        _report(checked)
        if digest_broken:
            err.print(f"[bold red]BROKEN[/] {digest_broken}")
        if not checked.ok or digest_broken:
            raise typer.Exit(1)
        if isinstance(given, Digest):
            console.print(
                f"The log has only grown since the digest of {given.issued_at.isoformat()} (position {given.position})."
            )

    @cli.command()
    def digest(
        ctx: typer.Context,
        out: Annotated[Path | None, typer.Option(help="Write the checkpoint here instead of standard output.")] = None,
    ) -> None:
        """The same as `checkpoint`: the digest is now the signed checkpoint (a Merkle tree head).

        Older JSON digests kept elsewhere are still checked by `verify --since FILE --public-key K`."""
        err.print("digest: the digest is now the signed checkpoint (`casejourney checkpoint`)")
        _checkpoint(ctx, out)

    @cli.command()
    def checkpoint(
        ctx: typer.Context,
        out: Annotated[Path | None, typer.Option(help="Write the checkpoint here instead of standard output.")] = None,
        verifier_key: Annotated[
            bool, typer.Option("--verifier-key", help="Print the key auditors check checkpoints with, and stop.")
        ] = False,
    ) -> None:
        """Verify the store, grow the log's Merkle tree, and sign a checkpoint of it (size, root hash,
        time, and the access log's head)."""
        if verifier_key:
            sys.stdout.write(_signer(ctx.obj).verifier().text() + "\n")
            return
        _checkpoint(ctx, out)

    @cli.command("verify-bundle")
    def verify_bundle(
        ctx: typer.Context,
        bundle: Annotated[Path, typer.Argument(help="The evidence bundle (from `export --bundle`).")],
        public_key: Annotated[
            str | None,
            typer.Option(
                help="The verifier key to trust (default: CASEJOURNEY_CHECKPOINT_VERIFIER_KEY, or this"
                " machine's own signing key)."
            ),
        ] = None,
        case: Annotated[UUID | None, typer.Option(help="Refuse a bundle that is not of this case.")] = None,
        html: Annotated[
            Path | None,
            typer.Option(
                help="Also write the bundle's page (self-contained HTML, from the bundle alone: the same bundle"
                " renders the same page), with what the check found at its top."
            ),
        ] = None,
    ) -> None:
        """Check an evidence bundle offline (no store is opened): the checkpoint and the seal against a
        key you trust, then every event's place, leaf hash, checkpoint and inclusion proof.
        Exit 0 verified, 1 broken (the first bad event named), 2 no key to trust or no file."""
        from infrastructure.audit.bundle import BundleBroken, check_bundle
        from infrastructure.eventstore.checkpoints import SIGNER_FILE
        from projections.describe import readable_time

        settings: Settings = ctx.obj
        try:
            text = bundle.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {bundle}: {exc}", 2)
        key_text = public_key or settings.checkpoint_verifier_key
        local = settings.checkpoint_signing_key is not None or (settings.key_folder() / SIGNER_FILE).exists()
        if not key_text and not local:
            fail(
                "no key to trust the bundle by: pass --public-key (the verifier key the service's operator gave"
                " you) or set CASEJOURNEY_CHECKPOINT_VERIFIER_KEY; the key a bundle names proves nothing.",
                2,
            )
        trusted = _trusted_verifier(settings, key_text)
        try:
            checked = check_bundle(text, trusted, case_id=case)
        except BundleBroken as exc:
            err.print(f"[bold red]BROKEN[/] {safe(str(bundle))}: {safe(str(exc))}")
            if html is not None:
                _bundle_page(text, html, verified=None, broken=str(exc))
            raise typer.Exit(1) from None
        reader = checked.reader
        signed = readable_time(checked.checkpoint.extension("time"))
        console.print(
            f"[bold green]OK[/] evidence bundle of case {checked.case_id}: {checked.events} events, each proved in"
            f" the checkpoint of {checked.checkpoint.size} events signed {signed}"
            f" by {checked.key}; read by {safe(str(reader.get('id')))} ({safe(str(reader.get('purpose')))})"
            f" at {safe(readable_time(str(reader.get('read_at'))))}."
        )
        if html is not None:
            verdict = (
                f"Verified offline against the trusted key {checked.key}: {checked.events} events, each proved in the"
                f" checkpoint of {checked.checkpoint.size} events signed {signed}, root hash"
                f" {checked.checkpoint.root.hex()}; what each shows is as the service sealed it"
            )
            if not _bundle_page(text, html, verified=verdict, broken=None):
                raise typer.Exit(1)

    def _bundle_page(text: str, out: Path, *, verified: str | None, broken: str | None) -> bool:
        """Writes the bundle's page to ``out``; False (and says so) when the file is too broken to show."""
        import json

        from infrastructure.audit.html_pages import bundle_html

        try:
            page = bundle_html(json.loads(text), verified=verified, broken=broken)
        except (ValueError, KeyError, TypeError, AttributeError):
            err.print("No page written: the bundle is too malformed to show.")
            return False
        try:
            write_private(out, page)
        except OSError as exc:
            err.print(f"No page written: cannot write {safe(str(out))}: {safe(str(exc))}")
            return False
        (console if broken is None else err).print(
            f"The bundle's page written to {safe(str(out))} (readable by you only)"
            + (", marked FAILED VERIFICATION." if broken else ".")
        )
        return True

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
    def keys(ctx: typer.Context) -> None:
        """Print new keys for the settings: a payload cipher keyring entry and a checkpoint signing pair
        (the verifier key is the one to give auditors)."""
        signer = Signer.generate(ctx.obj.checkpoint_origin)
        sys.stdout.write(
            f"CASEJOURNEY_CIPHER_KEYS={Keyring.new_key_text('k1')}\n"
            f"CASEJOURNEY_CHECKPOINT_SIGNING_KEY={signer.text()}\n"
            f"CASEJOURNEY_CHECKPOINT_VERIFIER_KEY={signer.verifier().text()}\n"
        )


@dataclass(frozen=True)
class _Since:
    checkpoint: Checkpoint


def _trusted_verifier(settings: Settings, public_key: str | None) -> Verifier:
    try:
        return Verifier.parse(public_key) if public_key else trusted_verifier(settings)
    except (NoteError, OSError) as exc:
        fail(f"the verifier key cannot be used: {exc}", 2)


def _read_since(path: Path, settings: Settings, public_key: str | None, trusted: Verifier) -> _Since | Digest:
    """A checkpoint note (opened with the trusted verifier key), or an older JSON digest, which is
    checked only against a public key the operator gives: never the key the digest carries."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"--since {path}: {exc}", 2)
    if not text.lstrip().startswith("{"):
        try:
            return _Since(Checkpoint.parse(open_note(text, trusted)))
        except NoteError as exc:
            fail(f"--since {path}: the checkpoint does not verify against {trusted.name}+{trusted.hash.hex()}: {exc}")
    trusted_key = public_key or settings.digest_public_key
    if not trusted_key:
        fail(
            f"--since {path} is a digest, and no key to trust it by is given: set CASEJOURNEY_DIGEST_PUBLIC_KEY"
            " or pass --public-key (the key written inside a digest proves nothing: whoever rewrote the log"
            " could sign with their own).",
            2,
        )
    try:
        digest = Digest.model_validate_json(text)
        check_signature(digest, trusted_key)
    except (ValidationError, DigestError) as exc:
        fail(f"digest {path}: {exc}")
    return digest


def _digest_contradicted(app: CaseJourney, digest: Digest) -> str | None:
    anchored: ChainRow | None = app.recorder.chain_row_at(digest.position)  # type: ignore[attr-defined]
    if anchored is None or anchored.chain_hash is None or anchored.chain_hash.hex() != digest.head_hash:
        return (
            f"the event at position {digest.position} no longer has the digest's hash: history before the digest"
            " was rewritten or truncated."
        )
    return None


def _print_json(document: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


def _log_json(log: Verification) -> dict[str, object]:
    return {
        "checked": log.checked,
        "head_position": log.head_position,
        "head_hash": log.head_hash.hex(),
        "first_break": log.first_break.describe() if log.first_break is not None else None,
    }


def _report(result: StoreVerification) -> None:
    """One line per record: OK and what was checked, or BROKEN and the first thing wrong."""
    log = result.log
    if log.ok:
        console.print(
            f"[bold green]OK[/] the case log: {log.checked} events chained; head at position {log.head_position}"
            f" (hash {log.head_hash.hex()[:16]}...); Merkle root {result.tree_root.hex()[:16]}..."
        )
    else:
        assert log.first_break is not None
        err.print(
            f"[bold red]BROKEN[/] the case log, after {log.checked} good events: {safe(log.first_break.describe())}"
        )
        err.print("(the other records are checked once the log verifies)")
    for finding in result.findings:
        if finding.ok:
            console.print(f"[bold green]OK[/] {finding.record}: {safe(finding.detail)}")
        else:
            err.print(f"[bold red]BROKEN[/] {finding.record}: {safe(finding.detail)}")


def _refuse_broken(result: StoreVerification) -> None:
    problem = result.first_problem()
    if problem is not None:
        fail(f"refusing to sign a broken store: {problem}")


def _checkpoint(ctx: typer.Context, out: Path | None) -> None:
    """Verify the store, grow its tree, sign a checkpoint; write it to ``out`` or standard output."""
    settings: Settings = ctx.obj
    _signer(settings)  # a bad signing or verifier key stops here, before any work
    _trusted_verifier(settings, None)
    with open_app(ctx) as app:
        log = AccessLog(settings, text_keys=app.text_keys)
        try:
            note, result = sign_verified(app, log, settings, app.clock())
        finally:
            log.close()
    _refuse_broken(result)
    assert note is not None
    if out:
        write_private(out, note)
        console.print(f"Checkpoint of {result.tree_size} events written to {out}.")
    else:
        sys.stdout.write(note)


def _signer(settings: Settings) -> Signer:
    try:
        return checkpoint_signer(settings)
    except (NoteError, OSError) as exc:
        fail(f"the checkpoint signing key cannot be used: {exc}", 2)


def _is_verifier_key(text: str | None) -> bool:
    """Whether ``text`` is meant as a checkpoint verifier key (name+hash+key), not an older JSON
    digest's bare Ed25519 key (the base64 of its 32 bytes)."""
    if not text:
        return False
    try:
        return len(base64.b64decode(text, validate=True)) != 32
    except ValueError:
        return True
