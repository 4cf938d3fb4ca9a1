"""MLflow glue: where runs live, the logged pyfunc model, model URIs, comparing runs, the UI."""
