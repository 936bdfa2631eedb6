"""The agent: the LLM step loop that drives a browser to finish a task, and what it needs around it.

`loop` runs one attempt step by step; `runner` gives it a browser and a model and settles the job; `tasks`
creates and answers agent jobs; `prompt`, `output`, `steps`, `human`, `walls`, `loop_guard` and `instruction`
are the parts the loop (and host-driven sessions) use.
"""

__all__: list[str] = []
