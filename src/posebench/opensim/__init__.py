"""OpenSim scaling and inverse kinematics through the OpenSim 4.6 Python API.

`logging` redirects OpenSim's log, `setups` adapts set-up files to a marker set, `markers`
checks a marker trial (TRC) against a tool's markers, `scaling` scales a model or places a
marker set on a scaled one, `ik` runs inverse kinematics. The OpenSim module itself is
imported as ``import opensim as osim`` (absolute imports, so never this package).

Facts about ``opensim`` 4.6 (PyPI) these modules rely on:

* Logging: OpenSim's logger opens its default file sink ``opensim.log`` lazily, on the first
  message, in whatever the current directory is at that moment (loading a model temporarily
  changes into the model file's directory, so the file can appear next to the model).
  ``Logger.removeFileSink()`` before the first message prevents it; ``Logger.addFileSink(path)``
  adds a file sink (a second one is refused with a warning until ``removeFileSink()``);
  ``Logger.setLevelString`` sets the level of all sinks, the console included.
* Paths: a ``ScaleTool`` read from a setup file resolves its generic model, marker set and
  marker files against ``getPathToSubject()`` (the setup file's directory). Here that prefix
  is cleared and every file is given as an absolute path.
* ``InverseKinematicsTool.run()`` writes ``<tool name>_ik_marker_errors.sto`` into its results
  directory when ``report_errors`` is on.
"""
