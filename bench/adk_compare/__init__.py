"""Side-by-side benchmark of ADK's GkeCodeExecutor and code-executor against
the same Kubernetes API server (bench/compare-adk)."""
