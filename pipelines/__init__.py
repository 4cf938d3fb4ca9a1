"""`mg.pipelines`: Apache Beam pipelines over `mg.representation` (never torch)."""
