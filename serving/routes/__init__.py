"""The service's routes, one module per audience: labelling, the MLflow protocol, the model, operations, admin,
and the API documentation pages."""

from serving.routes import admin, docs, labelling, mlflow_protocol, model_info, ops

ROUTERS = (labelling.router, mlflow_protocol.router, model_info.router, ops.router, admin.router, docs.router)
