"""Child-process entry that loads a Chroma index folder and queries it: `python -m agentevo.memory.probe DIR`.

Exit 0 and a JSON line {count, head} when the index works; any other exit (an exception, a segfault, a kill
after the parent's timeout) means the folder must be rebuilt.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    from agentevo.memory.index import probe_main

    code = probe_main(sys.argv[1:])
    sys.stdout.flush()
    os._exit(code)  # skip interpreter teardown: a broken segment may hang in Chroma's destructors
