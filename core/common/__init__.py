"""The foundation every other part of ``core`` stands on: the one error type, progress reporting,
atomic file output and quieting of chatty libraries. Imports nothing else of the project."""
