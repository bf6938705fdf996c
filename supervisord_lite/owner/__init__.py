"""The process owner: starts children, watches them through pidfds and reaps them.

The way a child is started is split by concept: `programs` (posix_spawn, and the fresh-interpreter
path for Python targets), `python_targets` (the zygote's spawner), `zygote_process` (the zygote
as its owner holds it), `pidfd` (one watched child), `reaper`
(the child subreaper), `spec` (environment, output fds, the child's spec), `factory` (the spawner
this machine allows). `child`, `zygote`, `zygote_script` and `sibling_fork` are the code that runs
in the child and in the zygote.

Empty on purpose: every Python child imports `supervisord_lite.owner.child`, and so this package.
What it imports, every child would pay for (asyncio and the owner's modules: ~7 MB of memory per
zygote, which each fork copies page tables for and each child's exit tears down).
"""
