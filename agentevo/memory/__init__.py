"""Experience memory: a SQL ledger of commits with a Chroma index, reflectors, a curator, and retrieval.

    store.py          ExperienceStore — the facade: commits, log, diff, rollback, search
    ledger.py         Ledger — the SQL truth: items, commits, history, metadata
    vector_index.py   VectorIndex — the in-memory vector table and the Chroma index, following the ledger
    prepare.py        screening, version stamps and vectors for one commit
    reflect.py        WorkflowReflector — workflows from successes, pitfalls from failures, no model needed
    llm_reflector.py  LLMReflector — any Model, strict JSON schema, off-schema output dropped
    curator.py        Curator — ADD, UPDATE, MERGE, DECAY; usage counts
    recall.py         MemoryRecall — what the memory learner shows: scoped, ranked, within a token budget
    learner.py        memory in `agentevo run --memory on`
    trust.py          provenance-capped trust and the prompt-injection screen

Import from the submodules; this package imports nothing heavy, so `agentevo --version` stays fast.
"""
