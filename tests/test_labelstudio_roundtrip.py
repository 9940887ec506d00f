"""The Label Studio round trip against a real Label Studio (the fixture in
tests/support/label_studio.py): a session made against the fake endpoint,
``export --format labelstudio``, a project made from the export's labeling
config and tasks through ``label_studio_sdk``, annotations by two users
posted through the API (one of them cancelled), the JSON export pulled back
and imported, and the agreement audit's Cohen's kappa equal to the kappa
computed here by hand on the same labels."""
from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from tests.support.cli import cli, fake_flags
from tests.support.fake_server import FakeServer
from tests.support.label_studio import ADMIN, label_studio_server  # noqa: F401  (the fixture)

sdk = pytest.importorskip("label_studio_sdk")
TINY = ["--steps", "2", "--beam", "1", "--dev-size", "4", "--test-size", "2", "--init-prompts", "2"]
BOB = "bob@example.com"


def kappa(a: list, b: list) -> float | None:
    """Cohen's kappa of two raters' labels on the same items: (p_o - p_e) / (1 - p_e);
    None when chance agreement is already total (p_e = 1)."""
    n = len(a)
    p_o = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    p_e = sum(ca[c] * cb[c] for c in set(a) | set(b)) / (n * n)
    return None if p_e == 1 else (p_o - p_e) / (1 - p_e)


def choices(name: str, values: list[str]) -> dict:
    return {"from_name": name, "to_name": "proposal", "type": "choices", "value": {"choices": values}}


def said(k: int, every: int) -> tuple[str, bool]:
    """A user's decision on the k-th task, and whether they tick "grounded" on it."""
    return ("accept" if k % every == 0 else "reject"), k % every == 0


def annotate(client, project: int, bob: int) -> tuple[dict, dict]:
    """Both users decide every task but the last, which bob skips (cancels);
    their choices follow different rules, so they agree on some tasks only.
    Returns each user's (decision, grounded ticked, kind) by proposal id."""
    tasks = sorted(client.tasks.list(project=project), key=lambda t: t.id)
    assert len(tasks) >= 4
    out: tuple[dict, dict] = ({}, {})
    for k, task in enumerate(tasks):
        pid, kind = task.data["proposal_id"], task.data["heading"].split(" · ")[1]
        for n, (user, every) in enumerate(((None, 2), (bob, 3))):
            if user == bob and k == len(tasks) - 1:
                client.annotations.create(id=task.id, result=[], was_cancelled=True, completed_by=bob)
                continue
            decision, tick = said(k, every)
            tick = tick and kind == "feedback"
            result = [choices("decision", [decision])] + ([choices("labels_feedback", ["grounded"])] if tick else [])
            extra = {"completed_by": user} if user else {}  # without it: the admin, whose token the client holds
            client.annotations.create(id=task.id, result=result, **extra)
            out[n][pid] = (decision, tick, kind)
    return out


def export_with_emails(client, project: int) -> bytes:
    """The JSON export with each annotation's user expanded (id and email)."""
    export = client.projects.exports.create(project, title="round trip",
                                            serialization_options={"annotations__completed_by": {"only_id": False}})
    for _ in range(600):
        if client.projects.exports.get(project, export.id).status == "completed":
            break
        time.sleep(0.1)
    return b"".join(client.projects.exports.download(project, export.id, export_type="JSON"))


@pytest.mark.timeout(600)  # the server's first start migrates its database: over a minute on a busy machine
def test_annotations_from_label_studio_give_the_kappa_computed_by_hand(tmp_path, capsys, label_studio_server):
    with capsys.disabled():  # the start time, where the person running the test sees it
        print(f"\nlabel-studio answered {label_studio_server.started_in:.1f} s after it was started")
    session = tmp_path / "nav.session"
    with FakeServer() as fake:
        code, _, err = cli(capsys, "run", "--task", "gen:navigate", *fake_flags(fake.openai_url), *TINY,
                           "--session", session)
    assert code == 0, err
    out = tmp_path / "nav.labelstudio.json"
    assert cli(capsys, "export", session, "--format", "labelstudio", "-o", out)[0] == 0

    client = sdk.LabelStudio(base_url=label_studio_server.url, api_key=label_studio_server.token)
    project = client.projects.create(title="reflectloop round trip",
                                     label_config=out.with_suffix(".xml").read_text()).id
    exported = json.loads(out.read_text())
    client.projects.import_tasks(id=project, request=exported)
    bob = client.users.create(username="bob", email=BOB, password="bob-password-1").id
    admin_said, bob_said = annotate(client, project, bob)

    pulled = tmp_path / "project.json"
    pulled.write_bytes(export_with_emails(client, project))
    merged = tmp_path / "ls.session"
    code, stdout, err = cli(capsys, "import", pulled, "--session", session, "-o", merged, "--strict")
    assert code == 0, err
    decided = len(admin_said) + len(bob_said)
    assert f"imported {decided} decisions by 2 annotators ({ADMIN}, {BOB})" in stdout
    # The skipped one is no decision; the export's own annotations (auto-accepts) are not either.
    assert f"1 annotations cancelled (skipped) in Label Studio, {len(exported)} carried" in stdout

    code, stdout, err = cli(capsys, "audit", merged, "--section", "agreement", "--json")
    assert code == 0, err
    (result,) = json.loads(stdout)["agreement"]
    rows = {r["measure"]: r for r in result["rows"]}
    both = [pid for pid in admin_said if pid in bob_said]  # the skipped task is rated by one user only
    a, b = [admin_said[p][0] for p in both], [bob_said[p][0] for p in both]
    assert len(set(a + b)) == 2 and a != b  # neither total agreement nor a single category
    assert rows["decision"]["items"] == len(both)
    assert rows["decision"]["cohen"] == pytest.approx(kappa(a, b))
    feedback = [p for p in both if admin_said[p][2] == "feedback"]
    by_hand = kappa([admin_said[p][1] for p in feedback], [bob_said[p][1] for p in feedback])
    assert rows["label:grounded"]["cohen"] == (None if by_hand is None else pytest.approx(by_hand))

    # The plain JSON export (what the UI's Export button gives) names users by id only: named, and --user names them.
    raw = tmp_path / "project-ids.json"
    raw.write_bytes(b"".join(client.projects.exports.download_sync(project, export_type="JSON",
                                                                   download_all_tasks=True)))
    code, _, err = cli(capsys, "import", raw, "--session", session, "-o", tmp_path / "refused.session", "--strict")
    assert code == 2 and "labelstudio-user-" in err and not (tmp_path / "refused.session").exists()
    admin = client.users.whoami().id
    code, stdout, err = cli(capsys, "import", raw, "--session", session, "-o", tmp_path / "named.session",
                            "--user", f"{admin}=admin", "--user", f"{bob}=bob", "--strict")
    assert code == 0 and "(admin, bob)" in stdout, err
    code, stdout, err = cli(capsys, "audit", tmp_path / "named.session", "--section", "agreement", "--json")
    assert code == 0, err
    (named,) = json.loads(stdout)["agreement"]
    assert {r["measure"]: r["cohen"] for r in named["rows"]}["decision"] == pytest.approx(kappa(a, b))
