"""The deployment files under ``cluster/``: every YAML parses and each carries what its target
needs (``test_cluster_commands.py`` checks their ``orch`` command lines). Pure: YAML only."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
import shlex
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from orchestrator.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "cluster"
LAUNCHER = CLUSTER / "ray-cluster.aws.yaml"
RAYJOB = CLUSTER / "rayjob.yaml"
MLFLOW = CLUSTER / "mlflow.yaml"
DOCKERFILE = CLUSTER / "Dockerfile"
README = CLUSTER / "README.md"
MANIFESTS = sorted({LAUNCHER, RAYJOB, MLFLOW, *CLUSTER.glob("*.yaml"), *CLUSTER.glob("*.yml")})
ORCH_HOME = re.compile(r"\bORCH_HOME=(\S+?);?(?=\s|$)")
SEPARATORS = {";", "&", "&&", "||", "|", "(", ")"}  # shell command separators


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pinned(package: str) -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(re.split(r"==", d)[1] for d in deps if re.match(rf"{package}(\[.*\])?==", d))


def dockerfile_env(name: str) -> str:
    return re.search(rf"\b{name}=(\S+)", DOCKERFILE.read_text()).group(1)


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def ray_pods(rayjob: dict) -> list[tuple[str, dict]]:
    cluster = rayjob["spec"]["rayClusterSpec"]
    pods = [("head", cluster["headGroupSpec"]["template"]["spec"])]
    return pods + [(g["groupName"], g["template"]["spec"]) for g in cluster["workerGroupSpecs"]]


def mounted_claim(pod: dict, path: str) -> str | None:
    """The PersistentVolumeClaim behind the volume mounted at (a parent of) ``path``."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in pod["containers"][0].get("volumeMounts", []):
        if (path.rstrip("/") + "/").startswith(mount["mountPath"].rstrip("/") + "/"):
            return volumes[mount["name"]].get("persistentVolumeClaim", {}).get("claimName")
    return None


# ---- every manifest ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_parses(path):
    docs = documents(path)
    assert docs and all(isinstance(doc, dict) for doc in docs), path


def test_readme_walks_every_file():
    text = README.read_text()
    for path in [*MANIFESTS, DOCKERFILE]:
        assert f"cluster/{path.name}" in text, f"cluster/README.md never mentions {path.name}"


# ---- the AWS cluster launcher -----------------------------------------------------------------


@pytest.fixture(scope="module")
def launcher() -> dict:
    return yaml.safe_load(LAUNCHER.read_text())


def test_launcher_matches_rays_own_schema(launcher):
    jsonschema = pytest.importorskip("jsonschema")
    ray_dir = Path(importlib.util.find_spec("ray").submodule_search_locations[0])
    schema = json.loads((ray_dir / "autoscaler" / "ray-schema.json").read_text())
    jsonschema.validate(launcher, schema)


def test_launcher_has_a_cpu_head_and_gpu_workers(launcher):
    assert launcher["cluster_name"] and launcher["provider"]["type"] == "aws"
    assert launcher["provider"]["region"]
    types, head = launcher["available_node_types"], launcher["head_node_type"]
    assert head in types, f"head_node_type {head!r} is not among {sorted(types)}"
    assert types[head]["resources"].get("GPU", 0) == 0
    workers = [n for n, t in types.items() if n != head and t["resources"].get("GPU", 0) >= 1]
    assert workers, "no worker node type offers GPU resources"
    for name in workers:
        assert types[name]["max_workers"] >= max(1, types[name].get("min_workers", 0))
        assert types[name]["node_config"]["InstanceType"]


def test_launcher_installs_the_project(launcher):
    setup = "\n".join(launcher["setup_commands"])
    checkouts = [
        remote for remote, local in launcher["file_mounts"].items() if local in (".", "./")
    ]
    assert checkouts or "git clone" in setup, "neither file-mounts the checkout nor clones it"
    make = next(command for command in launcher["setup_commands"] if "make setup" in command)
    home = f"/home/{launcher['auth']['ssh_user']}"
    for remote in checkouts:  # `make setup` runs in the mounted checkout
        folder = re.search(r"\bcd (\S+)", make)
        assert folder and folder.group(1).replace("~", home, 1) == remote, make
    assert "python3.11" in setup
    assert re.search(r"^setup:", (ROOT / "Makefile").read_text(), re.M)
    assert ORCH_HOME.search(setup), "`orch setup` (make setup) runs without ORCH_HOME"


@pytest.mark.parametrize(
    "key, role", [("head_start_ray_commands", "--head"), ("worker_start_ray_commands", "--address")]
)
def test_launcher_ray_start_sets_orch_home_and_token_auth(launcher, key, role):
    (start,) = [command for command in launcher[key] if "ray start" in command]
    assert role in start
    assert "RAY_AUTH_MODE=token" in start  # a worker never turns token auth on by itself
    homes = set(ORCH_HOME.findall(start))
    made = set(ORCH_HOME.findall("\n".join(launcher["setup_commands"])))
    assert homes and homes <= made, f"ray start reads ORCH_HOME {homes}, setup wrote {made}"
    assert ".venv/bin" in start, "entrypoints run `python` from the PATH of `ray start`"
    mounts = launcher["file_mounts"]
    assert "RAY_AUTH_TOKEN" in start or any(k.endswith("/.ray/auth_token") for k in mounts)
    if role == "--head":
        assert "--dashboard-host=0.0.0.0" in start and "--dashboard-port=8265" in start


# ---- the KubeRay RayJob and its image ---------------------------------------------------------


@pytest.fixture(scope="module")
def rayjob_docs() -> list[dict]:
    return documents(RAYJOB)


@pytest.fixture(scope="module")
def rayjob(rayjob_docs) -> dict:
    return one(rayjob_docs, "RayJob")


@pytest.fixture(scope="module")
def entrypoint(rayjob):
    words = shlex.split(rayjob["spec"]["entrypoint"])
    assert words[:2] == ["orch", "sweep"], words
    return build_parser().parse_args(words[1:])


def test_rayjob_shape(rayjob):
    assert rayjob["apiVersion"] == "ray.io/v1" and rayjob["metadata"]["namespace"]
    spec = rayjob["spec"]
    assert spec.get("submissionMode", "K8sJobMode") in ("K8sJobMode", "HTTPMode", "SidecarMode")
    assert spec["shutdownAfterJobFinishes"] is True
    cluster = spec["rayClusterSpec"]
    assert cluster["rayVersion"] == pinned("ray")
    assert cluster["headGroupSpec"]["rayStartParams"].get("num-cpus") == "0"
    assert cluster["workerGroupSpecs"]


def test_rayjob_pods_request_resources_and_workers_gpus(rayjob):
    for name, pod in ray_pods(rayjob):
        resources = pod["containers"][0]["resources"]
        for side in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources[side]), f"{name}: {side}"
        if name != "head":
            assert int(resources["limits"]["nvidia.com/gpu"]) >= 1, name
    for group in rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"]:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]


def test_rayjob_uses_token_auth(rayjob):
    auth = rayjob["spec"]["rayClusterSpec"].get("authOptions")
    if auth is None:  # set by hand: every Ray container, the token from a Secret
        for name, pod in ray_pods(rayjob):
            env = env_of(pod["containers"][0])
            assert env["RAY_AUTH_MODE"]["value"] == "token", name
            assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "auth_token"
        return
    assert auth.get("mode", "token") == "token"  # KubeRay's default mode is token
    # a named Secret, not a generated one: `orch submit` and the dashboard need the token too
    secret = auth["secretName"]
    assert f"create secret generic {secret} --from-literal=auth_token=" in README.read_text()


def test_rayjob_pods_run_the_image_with_its_orch_home(rayjob):
    home = dockerfile_env("ORCH_HOME")
    images = set()
    for name, pod in ray_pods(rayjob):
        container = pod["containers"][0]
        images.add(container["image"])
        assert env_of(container).get("ORCH_HOME", {"value": home})["value"] == home, name
    assert len(images) == 1, f"head and workers run different images: {images}"


def test_rayjob_storage_is_shared_by_every_pod(rayjob, rayjob_docs, entrypoint):
    storage = entrypoint.storage
    assert storage, "the entrypoint leaves Ray Tune's storage on the head's disk"
    if "://" in storage:
        assert storage.startswith(("s3://", "gs://")), storage
        return
    assert "storage.shared=true" in entrypoint.overrides
    claims = {d["metadata"]["name"]: d for d in rayjob_docs if d["kind"] == "PersistentVolumeClaim"}
    for name, pod in ray_pods(rayjob):
        claim = mounted_claim(pod, storage)
        assert claim, f"{name}: nothing mounted at {storage}"
        assert "ReadWriteMany" in claims[claim]["spec"]["accessModes"], claim


def test_rayjob_tracks_to_the_mlflow_service(rayjob, entrypoint):
    uri = urlparse(entrypoint.tracking_uri)
    assert uri.scheme == "http" and uri.port
    service, *rest = uri.hostname.split(".")
    svc = one(documents(MLFLOW), "Service", service)
    assert svc["metadata"]["namespace"] == (rest[0] if rest else rayjob["metadata"]["namespace"])
    assert uri.port in [port["port"] for port in svc["spec"]["ports"]]
    allowed = mlflow_option("--allowed-hosts", "MLFLOW_SERVER_ALLOWED_HOSTS")
    if allowed:  # MLflow 3 refuses Host headers it was not told about (mlflow's own matching)
        patterns = allowed.split(",")
        assert any(
            fnmatch.fnmatch(uri.netloc, p) if "*" in p else uri.netloc == p for p in patterns
        )


def test_dockerfile_bakes_the_project_and_its_data(entrypoint):
    text = DOCKERFILE.read_text()
    assert re.search(r"python:3\.11", text)
    assert "pip install ." in text and "orch setup" in text
    assert dockerfile_env("ORCH_HOME") == "/opt/orch"
    top = Path(entrypoint.spec).parts[0]
    assert re.search(rf"^COPY {top} ", text, re.M), f"the image lacks {top}/ for the entrypoint"
    assert f"mlflow=={pinned('mlflow')}" in text and "psycopg2-binary" in text


# ---- MLflow on Kubernetes ---------------------------------------------------------------------


def mlflow_server() -> tuple[list[dict], dict, dict]:
    docs = documents(MLFLOW)
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            words = [*container.get("command", []), *container.get("args", [])]
            if words[:2] == ["mlflow", "server"]:
                return docs, deployment, container
    pytest.fail("no Deployment in cluster/mlflow.yaml runs `mlflow server`")


def mlflow_option(flag: str, envvar: str) -> str | None:
    """A `mlflow server` option as given: ``--flag=value``, ``--flag value`` or its variable."""
    _, _, container = mlflow_server()
    words = container.get("args", [])
    for i, word in enumerate(words):
        if word.startswith(flag + "="):
            return word.split("=", 1)[1]
        if word == flag:
            return words[i + 1]
    return env_of(container).get(envvar, {}).get("value")


def test_mlflow_server_listens_on_5000_behind_a_service():
    docs, deployment, container = mlflow_server()
    assert mlflow_option("--host", "MLFLOW_HOST") == "0.0.0.0"
    assert mlflow_option("--port", "MLFLOW_PORT") == "5000"
    assert container["image"].endswith(f":{pinned('mlflow')}")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    services = [
        s
        for s in docs
        if s["kind"] == "Service" and s["spec"]["selector"].items() <= labels.items()
    ]
    assert any(p["port"] == 5000 for s in services for p in s["spec"]["ports"])


def test_mlflow_backend_is_the_postgres_service():
    docs, _, container = mlflow_server()
    backend = mlflow_option("--backend-store-uri", "MLFLOW_BACKEND_STORE_URI")
    assert backend and backend.startswith(("postgresql://", "postgresql+psycopg2://")), backend
    uri = urlparse(backend)
    svc = one(docs, "Service", uri.hostname)
    assert uri.port in [p["port"] for p in svc["spec"]["ports"]]
    workloads = [
        w
        for w in docs
        if w["kind"] in ("StatefulSet", "Deployment")
        and svc["spec"]["selector"].items() <= w["spec"]["template"]["metadata"]["labels"].items()
    ]
    assert workloads and workloads[0]["spec"]["template"]["spec"]["containers"][0][
        "image"
    ].startswith("postgres:")
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    for var in env_of(container).values():
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref["key"] in secrets[ref["name"]]["stringData"], ref
    assert any("POSTGRES_PASSWORD" in s["stringData"] for s in secrets.values())


def test_mlflow_serves_artifacts_from_a_volume_or_bucket():
    _, deployment, container = mlflow_server()
    assert "--no-serve-artifacts" not in container.get("args", [])
    destination = mlflow_option("--artifacts-destination", "MLFLOW_ARTIFACTS_DESTINATION")
    assert destination, "artifacts would land in the container's ./mlartifacts"
    if "://" not in destination:
        assert mounted_claim(deployment["spec"]["template"]["spec"], destination), destination
