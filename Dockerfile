# Runtime image of poverty-pipeline: the `poverty-pipeline` command as entrypoint, run by a
# non-root user. Build it from the repository root:
#
#   docker build -t poverty-pipeline .
#   # air-gapped clusters: bake ImageNet weights into the image's Keras cache
#   docker build --build-arg IMAGENET_BACKBONES="mobilenet_0.25 resnet50" -t poverty-pipeline .
#
# and run it with the data, configs and run directories mounted under /work (see README, "Docker"):
#
#   docker run --rm -v "$PWD/configs:/work/configs:ro" -v "$PWD/data:/work/data" \
#       -v "$PWD/runs:/work/runs" poverty-pipeline run configs/demo.yaml
FROM python:3.11-slim

# Space-separated backbone names (config key model.backbone) whose ImageNet weights are fetched
# at build time; empty: none (they are then looked up, or downloaded, when a run needs them).
ARG IMAGENET_BACKBONES=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    KERAS_HOME=/opt/keras \
    POVERTY_PIPELINE_WEIGHTS_DIR=/opt/keras/models \
    MPLCONFIGDIR=/tmp/matplotlib

RUN groupadd --gid 10001 pipeline \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin pipeline

WORKDIR /opt/poverty-pipeline
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY configs ./configs
RUN pip install --no-cache-dir .

# Weights land in $KERAS_HOME/models, which is also the pipeline's weights directory
# (POVERTY_PIPELINE_WEIGHTS_DIR), so a run finds them even as another uid (docker run --user).
RUN mkdir -p "$KERAS_HOME/models" \
    && for name in $IMAGENET_BACKBONES; do \
         python -c "import sys; from pipeline.models import get_backbone, resolve_weights; \
spec = get_backbone(sys.argv[1]); \
print(resolve_weights(spec, 'imagenet', spec.default_input_px, None))" "$name" || exit 1; \
       done \
    && chown -R 10001:10001 "$KERAS_HOME"

USER 10001:10001
WORKDIR /work
ENTRYPOINT ["poverty-pipeline"]
CMD ["--help"]
