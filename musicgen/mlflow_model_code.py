"""The code file of the logged MLflow model ("models from code"): MLflow runs it to load the model.

It builds the model object from code instead of unpickling one; the weights come from the
`mg_model` artifact (see musicgen.mlflow_model).
"""

from mlflow.models import set_model

from musicgen.mlflow_model import MgMusicModel

set_model(MgMusicModel())
