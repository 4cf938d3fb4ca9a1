"""`mg.pipelines`: Apache Beam pipelines over `musicgen.representation` (never torch)."""
