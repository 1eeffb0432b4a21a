"""OpenCapBench's 12-joint leaderboard of per-trial joint-angle errors.

* :mod:`posebench.leaderboard.statistics`: the aggregation, bootstrap intervals and paired
  comparisons (pandas and numpy: tables in, tables out, no file access).
* :mod:`posebench.leaderboard.render`: the CSV and Markdown text of those tables.
* :mod:`posebench.leaderboard.plot`: the bar plot (matplotlib, imported when plotting).

The stage shell :mod:`posebench.stages.leaderboard` reads the scores and writes the files.
"""
