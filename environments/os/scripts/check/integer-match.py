# argv: the agent's answer, then the expected value (the example's output). Exit 0 when both are the same
# integer (surrounding whitespace ignored).
import sys

try:
    sys.exit(0 if int(sys.argv[1].strip()) == int(sys.argv[2].strip()) else 1)
except (IndexError, ValueError):
    sys.exit(1)
