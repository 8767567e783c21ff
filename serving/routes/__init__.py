"""The service's routes, one module per audience: labelling, corrections, the MLflow protocol, the model,
operations, admin, the API documentation pages, and the analyst's page."""

from serving.routes import admin, corrections, docs, labelling, mlflow_protocol, model_info, ops, page

ROUTERS = (labelling.router, corrections.router, mlflow_protocol.router, model_info.router, ops.router, admin.router,
           docs.router, page.router)
