"""The fake endpoint of the fault matrix (``tests/test_fault_matrix.py``):
``FakeServer`` answering a task file that adds two numbers (``A=… B=…``) and an
LLM judge, with one fault a test switches on and off — a status (401) or a
``FakeServer`` fault kind on the requests it picks, judge replies holding no
verdict, or the endpoint stopping at a request (its port closed) until the
test starts one again on the same port.  Answers depend on the request only,
so a run that met a fault and was resumed can be compared with a clean one."""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable

from tests.support.fake_answers import unit
from tests.support.fake_http import error_body, success_body
from tests.support.fake_server import FakeServer

HANG = 3.0  # seconds a "timeout" fault holds its request: longer than the matrix's client waits


def request_text(body: dict) -> str:
    return "\n".join(str(m.get("content", "")) for m in body.get("messages") or [])


def target_answer(text: str) -> str | None:
    """The sum, right or one too many by the prompt's skill: prompts score differently."""
    found = re.search(r"A=(\d+) B=(\d+)", text)
    if found is None or "## Response to judge" in text:
        return None
    a, b = (int(x) for x in found.groups())
    instruction = text[: found.start()]
    skill = 0.3 + 0.6 * unit("skill", instruction)
    return str(a + b + (0 if unit("example", instruction, a) < skill else 1))


def judge_answer(text: str, garbage: bool) -> str | None:
    if "## Response to judge" not in text:
        return None
    if garbage:
        return "What a lovely sum, I enjoyed reading it."
    response = text.split("## Response to judge", 1)[1].split("##", 1)[0]
    return f"Reason: judged.\nScore: {1 + int(unit('verdict', response.strip()) * 5)}"


class MatrixServer(FakeServer):
    """The fake endpoint answering the adding task and the judge, with one
    fault the test switches on and off: ``fault`` ("401", or a FakeServer
    kind such as "500" or "timeout") on the requests ``when`` picks;
    ``garbage``: judge replies with no verdict; ``stop_when``: the endpoint
    stops at the first request it picks (its port closed, kept-alive
    connections dropped) until the test starts one again on the same port."""

    def __init__(self, **options) -> None:
        super().__init__(hang=HANG, **options)
        self.fault: str | None = None
        self.when: Callable[[str], bool] = lambda text: True
        self.garbage = False
        self.stop_when: Callable[[str], bool] | None = None
        self.stopped = False
        self.texts: list[str] = []  # every request's messages, joined: what was asked, whatever the answer

    @property
    def port(self) -> int:
        return self.server_address[1]

    def _decide(self, api: str, body: dict, prompt: str):
        key, attempt, fault = super()._decide(api, body, prompt)
        text = request_text(body)
        self.texts.append(text)
        if self.stop_when is not None and not self.stopped and self.stop_when(text):
            self.stopped = True
            # From a thread of its own: shutdown() waits for the serving loop.
            threading.Thread(target=self._stop, daemon=True).start()
        if self.stopped:
            return key, attempt, "down"
        if self.fault is not None and self.when(text):
            return key, attempt, self.fault
        return key, attempt, fault

    def _stop(self) -> None:
        self.shutdown()
        self.socket.close()

    def _reply(self, handler, api: str, body: dict, prompt: str, fault: str | None):
        if fault == "down":
            handler.close_connection = True  # no answer: the endpoint is gone
            return None
        if fault == "401":
            return handler.send_json(401, error_body(api, "invalid_request_error", "Incorrect API key (fake server)"))
        return super()._reply(handler, api, body, prompt, fault)

    def _answer(self, handler, api: str, body: dict, prompt: str, fault: str | None):
        text = request_text(body)
        answer = judge_answer(text, self.garbage) or target_answer(text)
        if answer is None or fault is not None:
            return super()._answer(handler, api, body, prompt, fault)  # the optimizer's tagged answers
        data = json.dumps(success_body(api, body, answer, empty=False)).encode()
        return lambda: handler.send_raw(200, data)
