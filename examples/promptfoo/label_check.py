"""A promptfoo Python assertion: the reply's last word is the expected label."""


def get_assert(output, context):
    expected = context["vars"]["sentiment"].lower()
    words = output.strip().lower().rstrip(".!").split()
    said = words[-1] if words else ""
    if said == expected:
        return {"pass": True, "score": 1.0, "reason": f"the label is {expected}"}
    return {"pass": False, "score": 0.0, "reason": f"expected {expected}, the reply ends with {said or 'nothing'!r}"}
