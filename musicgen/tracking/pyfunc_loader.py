"""The code file of the logged MLflow model ("models from code"): MLflow runs it to load the model.

It builds the model object from code instead of unpickling one; the weights come from the
`mg_model` artifact (see mg.tracking.pyfunc).
"""

from mlflow.models import set_model

from mg.tracking.pyfunc import MgMusicModel

set_model(MgMusicModel())
