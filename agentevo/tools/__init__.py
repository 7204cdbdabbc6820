"""The tool archive: tools compiled or generated from successful trajectories; gated, versioned, retired.

folder      <archive>/<name>/v<N>/{tool.py, test_tool.py, tool.json}: the reviewable files, written atomically
registry    SQL: versions, status, content hashes, calls, rejections, audit events
files       ToolFiles: version folders loaded only while their content hash matches (ToolTampered)
retrieval   ToolSearch: embedded names and descriptions, ranked search within a tool's scope
admission   Admission: submit through the gate; store, supersede, merge a twin, or reject
rules       static (AST) rules every tool and its tests must pass
sandboxed   harness-owned drivers that call a tool or run its tests inside a sandbox
gate        parse → rules → tests in the sandbox → stubs → old tests → replays → register
archive     FileToolArchive: the facade (register / search / get / retire / record_call)
compiler    trajectory → parameterised macro tool (no LLM)
synth       an LLM proposes a tool and its tests, repaired within a bounded number of attempts
macros      how a web or OS tool's result is carried out by the live environment
recall      ToolRecall: the most relevant active tools become extra actions with handlers
lifecycle   Lifecycle: retire, restore a state, reinforce; retirement after failures, `verify`, merging
access      open_archive, split_ref (NAME@V), unified diffs: shared by `agentevo tools …` and the workbench
"""
