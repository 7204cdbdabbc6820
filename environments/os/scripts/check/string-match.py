# argv: the agent's answer, then the expected value (the example's output). Exit 0 when they are equal
# after stripping surrounding whitespace.
import sys

sys.exit(0 if len(sys.argv) > 2 and sys.argv[1].strip() == sys.argv[2].strip() else 1)
