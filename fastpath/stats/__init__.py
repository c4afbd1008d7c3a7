"""Pure statistics (no I/O): per-result-class summaries and profile comparisons.

Normative rules: STATISTICS.md §2 (summary) and §3 (comparison), DESIGN §6.
"""

from fastpath.stats.compare import Comparison, compare, compare_summaries
from fastpath.stats.summary import Summary, summarize

__all__ = ["Comparison", "Summary", "compare", "compare_summaries", "summarize"]
