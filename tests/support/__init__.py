"""Support code shared by the tests and the benchmarks: the fake LLM endpoint
(``fake_server``; what it answers in ``fake_answers``, its HTTP side in
``fake_http``), temporary homes (``homes``) and reading a child process's
output with a timeout (``processes``)."""
