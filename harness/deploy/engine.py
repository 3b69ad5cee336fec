"""Deploy and destroy a stack: plan, check, create/update/delete in order, roll back on failure.

    stack = deploy_stack(env, Path("stacks/catalog"), {"Stage": "dev"})
    destroy_stack(env, stack.name)

Everything that can be checked without the backend is checked before anything is created:
YAML, cfn-lint errors, the SAM transform, parameters, resource types and properties the backend
cannot honour, dangling references, cycles and missing handler files. A redeploy compares the
template with the saved :class:`DeployedStack`: unchanged resources are left alone (tables and
queues keep their data), changed ones are updated in place, removed ones are deleted.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from harness.deploy.build import build_stack
from harness.deploy.fake_servers import start_fake_servers, stop_fake_servers
from harness.deploy.graph import dependencies, topological_order
from harness.deploy.intrinsics import (
    Resolver,
    resolve_parameters,
)
from harness.deploy.outputs import (
    export_parameter_name,
    output_parameter_name,
    publish_outputs,
    resolve_outputs,
)
from harness.deploy.plan_checks import (
    check_attributes,
    check_function,
    check_imports,
    check_resource,
    no_client,
)
from harness.deploy.resources import handler_for
from harness.deploy.resources.base import Context
from harness.deploy.seeding import check_seed_hook, run_seed_hook
from harness.deploy.specs import (
    build_apis,
    build_event_sources,
    build_functions,
)
from harness.deploy.specs.functions import check_aliases
from harness.deploy.template import StackSource, lint, load_child_source, load_source, transform
from harness.deploy.unsupported import Unsupported, enforce
from harness.errors import DeployError
from harness.model import DeployedStack, ResourceRecord, load_stacks, stack_file
from harness.profile import FixturesSpec, load_fixtures
from harness.runtime.client import reload_runtime

if TYPE_CHECKING:
    from harness.env.environment import Environment

__all__ = ["Plan", "deploy_stack", "destroy_stack", "output_parameter_name", "plan_stack"]

logger = logging.getLogger(__name__)

_IGNORED_ATTRIBUTES = (
    "Condition",
    "DependsOn",
    "Metadata",
    "DeletionPolicy",
    "UpdateReplacePolicy",
    "UpdatePolicy",
    "CreationPolicy",
)


class Plan:
    """A checked template, ready to apply: resources in order, each with its handler module."""

    def __init__(
        self,
        source: StackSource,
        template: dict[str, Any],
        parameters: dict[str, Any],
        resolver: Resolver,
        order: list[str],
        handlers: dict[str, ModuleType],
    ) -> None:
        self.source = source
        self.template = template
        self.parameters = parameters
        self.resolver = resolver
        self.order = order
        self.handlers = handlers
        # refusals turned into warnings by --allow-unsupported (repeated at the end of the deploy)
        self.unsupported: list[Unsupported] = []

    @property
    def file(self) -> str:
        return str(self.source.template_path)

    def resources(self) -> dict[str, Any]:
        return dict(self.template.get("Resources") or {})


def _imports(state_dir: Path, exclude: str) -> dict[str, str]:
    exports: dict[str, str] = {}
    for name, stack in load_stacks(state_dir).items():
        if name != exclude:
            exports.update(stack.exports)
    return exports


def plan_stack(
    source: StackSource,
    params: Mapping[str, str] | None = None,
    *,
    region: str = "us-east-1",
    account_id: str = "000000000000",
    imports: Mapping[str, str] | None = None,
    ssm_lookup: Any = None,
    run_lint: bool = True,
    context: Context | None = None,
    allow_unsupported: bool = False,
) -> Plan:
    """Every up-front check; raises :class:`DeployError` before anything is created."""
    file = str(source.template_path)
    if run_lint:
        lint(source, region)
    parameters = resolve_parameters(
        source.template.get("Parameters") or {},
        dict(params or {}),
        file=file,
        ssm_lookup=ssm_lookup,
    )
    found: list[Unsupported] = []
    s3_reader = None
    if context is not None:
        s3 = context

        def s3_reader(bucket: str, key: str) -> bytes:
            return bytes(s3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())

    template = transform(
        source,
        parameters,
        region=region,
        account_id=account_id,
        unsupported=found,
        s3_reader=s3_reader,
    )
    resources: dict[str, Any] = template.get("Resources") or {}
    resolver = Resolver(
        stack_name=source.name,
        region=region,
        account_id=account_id,
        file=file,
        parameters=parameters,
        mappings=template.get("Mappings") or {},
        conditions=template.get("Conditions") or {},
        imports=imports or {},
        resource_types={k: str(v.get("Type")) for k, v in resources.items() if isinstance(v, dict)},
    )
    active: dict[str, Any] = {}
    for logical_id, definition in resources.items():
        if not isinstance(definition, dict) or "Type" not in definition:
            raise DeployError(
                "a resource needs a Type.",
                file=file,
                logical_id=logical_id,
                fix="add Type: AWS::...",
            )
        resolver.context = logical_id
        condition = definition.get("Condition")
        if condition is None or resolver.condition(str(condition)):
            active[logical_id] = definition
    resolver.context = None
    handlers: dict[str, ModuleType] = {}
    for logical_id, definition in list(active.items()):
        module = check_resource(file, logical_id, definition, found)
        if module is None:
            del active[logical_id]
        else:
            handlers[logical_id] = module
    unsupported = enforce(found, allow=allow_unsupported)
    check_attributes(file, active, handlers, template.get("Outputs") or {})
    check_imports(resolver, active, parameters)
    deps = dependencies(resources, parameters=parameters, file=file)
    active_deps = {k: {d for d in v if d in active} for k, v in deps.items() if k in active}
    order = topological_order(active_deps, file=file)
    ctx = context or Context(
        source.name, region, account_id, source.stack_dir, file, client_factory=no_client
    )
    for logical_id in order:
        definition = active[logical_id]
        if definition["Type"] == "AWS::Lambda::Function":
            check_function(ctx, active, logical_id, definition, handlers[logical_id])
    plan = Plan(source, template, parameters, resolver, order, handlers)
    plan.unsupported = unsupported
    return plan


# -- apply ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _stack_lock(state_dir: Path) -> Iterator[None]:
    """One deploy/destroy at a time per state folder (another process waits)."""
    folder = state_dir / "stacks"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def deploy_stack(
    env: Environment,
    stack_dir: Path,
    params: dict[str, str] | None = None,
    *,
    seed: bool = True,
    allow_unsupported: bool = False,
) -> DeployedStack:
    """Deploy (or update) the stack in ``stack_dir`` on the running environment.

    Anything in the template that cannot be honoured locally refuses the deploy before anything
    is created (:mod:`harness.deploy.unsupported`); with ``allow_unsupported`` each is logged as a
    warning instead and kept in ``DeployedStack.unsupported`` (shown again by ``harness status``).

    With the stack's ``fixtures`` (harness.yaml): its fake servers are started (or kept) first and
    bound to their template parameters (an explicit ``params`` entry still wins), and its seed
    hook runs after the deploy unless ``seed`` is False.
    """
    with _stack_lock(env.state_dir):
        return _deploy(env, stack_dir, params, seed=seed, allow_unsupported=allow_unsupported)


def _profile_parameters(source: StackSource, endpoints: Mapping[str, Any]) -> dict[str, str]:
    """``parameters`` of harness.yaml, with ``${redis_proxy_url}``-style environment endpoints
    filled in (so a stack's Redis URL is the fault proxy, its issuer the local one...)."""
    import re

    values: dict[str, str] = {}
    for name, raw in (source.profile.get("parameters") or {}).items():
        text = str(raw)

        def endpoint(match: re.Match[str], name: str = str(name)) -> str:
            key = match.group(1)
            if key not in endpoints or not isinstance(endpoints[key], str):
                known = ", ".join(sorted(k for k, v in endpoints.items() if isinstance(v, str)))
                raise DeployError(
                    f"parameter '{name}' names unknown endpoint '${{{key}}}' (known: {known}).",
                    file=str(source.stack_dir / "harness.yaml"),
                )
            return str(endpoints[key])

        values[str(name)] = re.sub(r"\$\{([a-z_]+)\}", endpoint, text)
    return values


def _check_fixtures(source: StackSource, fixtures: FixturesSpec, profile_file: str) -> None:
    """Before anything starts: the seed module exists and every bound parameter is declared."""
    check_seed_hook(source.stack_dir, fixtures, profile_file)
    declared = set(source.template.get("Parameters") or {})
    for name, spec in fixtures.fake_servers.items():
        if spec.parameter and spec.parameter not in declared:
            raise DeployError(
                f"fixtures.fake_servers.{name}.parameter names '{spec.parameter}', which "
                f"{source.template_path.name} does not declare (its parameters: "
                f"{', '.join(sorted(declared)) or 'none'}).",
                file=profile_file,
                fix="name one of the template's Parameters, or declare it in the template.",
            )


def _deploy(
    env: Environment,
    stack_dir: Path,
    params: dict[str, str] | None,
    *,
    seed: bool = True,
    allow_unsupported: bool = False,
) -> DeployedStack:
    started = time.perf_counter()
    endpoints = env.endpoints
    state_dir = env.state_dir
    source = load_source(Path(stack_dir))
    profile_file = str(source.stack_dir / "harness.yaml")
    fixtures = load_fixtures(source.stack_dir / "harness.yaml")
    _check_fixtures(source, fixtures, profile_file)
    fakes = start_fake_servers(
        state_dir,
        source.name,
        source.stack_dir,
        fixtures.fake_servers,
        profile_file=profile_file,
    )
    bound = {
        spec.parameter: fakes.urls[name]
        for name, spec in fixtures.fake_servers.items()
        if spec.parameter
    }
    try:
        stack, fresh = _deploy_resources(
            env,
            source,
            {**_profile_parameters(source, endpoints), **bound, **(params or {})},
            allow_unsupported=allow_unsupported,
        )
    except BaseException:
        stop_fake_servers(state_dir, source.name, fakes.started)
        raise
    stack.fake_servers = dict(fakes.urls)
    stack.save(state_dir)
    # the runtime loads the stack now, and returns once provisioned environments are warm
    reload_runtime(env.endpoints)
    if seed and fixtures.module:
        try:
            run_seed_hook(env, stack, fixtures)
        except BaseException:
            if fresh:  # a first deploy that cannot be seeded leaves nothing behind
                logger.warning("seeding failed; destroying the new stack %s", stack.name)
                _destroy(env, stack.name)
            raise
    logger.info(
        "deployed %s (%d resources) in %.1f s",
        stack.name,
        len(stack.resources),
        time.perf_counter() - started,
    )
    return stack


def _deploy_nested(
    env: Environment,
    parent: str,
    name: str,
    template: Path,
    params: dict[str, str],
    *,
    allow_unsupported: bool,
) -> DeployedStack:
    """Deploy (or update) a nested stack's child as the stack ``name`` and save it; the parent
    holds the stack lock already."""
    source = load_child_source(template, name)
    stack, _ = _deploy_resources(env, source, params, allow_unsupported=allow_unsupported)
    stack.parent = parent
    stack.save(env.state_dir)
    logger.info("deployed nested stack %s (%d resources)", name, len(stack.resources))
    return stack


def _deploy_resources(
    env: Environment, source: StackSource, params: dict[str, str], *, allow_unsupported: bool
) -> tuple[DeployedStack, bool]:
    """Plan and apply; the new :class:`DeployedStack` (not saved yet), and whether it is new."""
    endpoints = env.endpoints
    region, account = (
        str(endpoints.get("region", "us-east-1")),
        str(endpoints.get("account_id", "000000000000")),
    )
    state_dir = env.state_dir
    old = _load(state_dir, source.name)
    env_started = float(getattr(env.state or env.refresh(), "started_at", 0.0) or 0.0)
    if old is not None and old.deployed_at < env_started:
        logger.warning(
            "stack %s was deployed before the environment (re)started; deploying it afresh",
            old.name,
        )
        old = None
    ctx = Context(
        stack_name=source.name,
        region=region,
        account_id=account,
        stack_dir=source.stack_dir,
        file=str(source.template_path),
        client_factory=env.client,
        gateway_url=str(endpoints.get("gateway_url", "")),
        profile=source.profile,
        work_dir=state_dir / "stacks" / f"{source.name}.code",
    )

    def deploy_nested(name: str, template: Path, child_params: dict[str, str]) -> DeployedStack:
        return _deploy_nested(
            env, source.name, name, template, child_params, allow_unsupported=allow_unsupported
        )

    ctx.deploy_nested = deploy_nested
    ctx.destroy_nested = lambda name: _destroy(env, name, nested=True)

    def ssm_lookup(name: str) -> str:
        return str(ctx.client("ssm").get_parameter(Name=name)["Parameter"]["Value"])

    plan = plan_stack(
        source,
        params,
        region=region,
        account_id=account,
        imports=_imports(state_dir, source.name),
        ssm_lookup=ssm_lookup,
        context=ctx,
        allow_unsupported=allow_unsupported,
    )
    return _apply(ctx, plan, old, allow_unsupported=allow_unsupported), old is None


def _load(state_dir: Path, name: str) -> DeployedStack | None:
    return load_stacks(state_dir).get(name) if stack_file(state_dir, name).is_file() else None


def _apply(
    ctx: Context, plan: Plan, old: DeployedStack | None, *, allow_unsupported: bool = False
) -> DeployedStack:
    resources = plan.resources()
    resolver = plan.resolver
    records: dict[str, ResourceRecord] = {}
    resolver.records = records
    old_records = dict(old.resources) if old else {}
    ctx.old_records = old_records
    created: list[ResourceRecord] = []
    updated: list[tuple[ResourceRecord, ResourceRecord]] = []
    try:
        for logical_id in plan.order:
            definition = resources[logical_id]
            type_ = str(definition["Type"])
            module = plan.handlers[logical_id]
            resolver.context = logical_id
            props = resolver.resolve(definition.get("Properties") or {})
            ctx.current_type = type_
            previous = old_records.get(logical_id)
            if previous is not None and previous.type == type_:
                if previous.properties == props:
                    refresh = getattr(module, "refresh", None)
                    records[logical_id] = refresh(ctx, previous) if refresh else previous
                    continue
                logger.info("updating %s (%s)", logical_id, type_)
                rec = module.update(ctx, previous, props)
                rec.type = type_
                updated.append((previous, rec))
            else:
                if previous is not None:  # type changed: replace
                    _delete_one(ctx, previous)
                logger.info("creating %s (%s)", logical_id, type_)
                rec = module.create(ctx, logical_id, props)
                rec.type = type_
                if type_ == "AWS::Lambda::Version" and definition.get("DeletionPolicy") == "Retain":
                    rec.attributes["Retained"] = True  # kept when it leaves the template
                created.append(rec)
            records[logical_id] = rec
            ctx.records = records
        resolver.context = None
        # a retained Lambda version (SAM publishes each with DeletionPolicy Retain) outlives the
        # template revision that published it: an alias may still route to it
        for logical_id, rec in old_records.items():
            if logical_id not in records and rec.attributes.get("Retained"):
                records[logical_id] = rec
        # what only the resolved records show (an API's integrations, an event source's kind,
        # a function's layers and build hints)
        late: list[Unsupported] = []
        builds = build_stack(
            records,
            {
                lid: d.get("Metadata") or {}
                for lid, d in [
                    *(plan.source.template.get("Resources") or {}).items(),  # SAM's, pre-transform
                    *resources.items(),
                ]
                if isinstance(d, dict) and d.get("Metadata")
            },
            file=ctx.file,
            work_dir=ctx.work_dir or ctx.stack_dir / ".harness-code",
            unsupported=late,
        )
        apis = build_apis(records, plan.source.profile, unsupported=late, file=ctx.file)
        event_sources = build_event_sources(records, unsupported=late, file=ctx.file)
        check_aliases(records, ctx.file)
        unsupported = plan.unsupported + enforce(late, allow=allow_unsupported)
        outputs, exports = resolve_outputs(plan.template, resolver)
        publish_outputs(ctx, plan.source.name, outputs, exports, old)
    except BaseException as exc:
        _rollback(ctx, created, updated)
        if isinstance(exc, DeployError) or not isinstance(exc, Exception):
            raise
        raise DeployError(
            f"deploy failed and was rolled back: {exc.__class__.__name__}: {exc}",
            file=ctx.file,
            logical_id=resolver.context,
            backend="harness deploy",
        ) from exc
    removed = [
        lid for lid in (old.order if old and old.order else list(old_records)) if lid not in records
    ]
    for logical_id in reversed(removed):
        if logical_id in old_records:
            logger.info("deleting %s (removed from the template)", logical_id)
            _delete_one(ctx, old_records[logical_id])
    return DeployedStack(
        name=plan.source.name,
        stack_dir=str(plan.source.stack_dir),
        template_path=str(plan.source.template_path),
        deployed_at=time.time(),
        parameters={
            k: ",".join(v) if isinstance(v, list) else str(v) for k, v in plan.parameters.items()
        },
        outputs=outputs,
        resources=records,
        functions=build_functions(records, builds),
        apis=apis,
        event_sources=event_sources,
        unsupported=[u.to_json() for u in unsupported],
        profile=plan.source.profile,
        exports=exports,
        order=[*plan.order, *(lid for lid in records if lid not in plan.order)],
    )


def _delete_one(ctx: Context, rec: ResourceRecord) -> None:
    module = handler_for(rec.type)
    if module is None:
        logger.warning("no module for %s (%s); not deleted", rec.logical_id, rec.type)
        return
    ctx.current_type = rec.type
    try:
        module.delete(ctx, rec)
    except Exception:  # keep deleting the others
        logger.exception("could not delete %s (%s)", rec.logical_id, rec.physical_id)


def _rollback(
    ctx: Context,
    created: list[ResourceRecord],
    updated: list[tuple[ResourceRecord, ResourceRecord]],
) -> None:
    for rec in reversed(created):
        logger.info("rollback: deleting %s", rec.logical_id)
        _delete_one(ctx, rec)
    for previous, current in reversed(updated):
        module = handler_for(previous.type)
        if module is None:
            continue
        ctx.current_type = previous.type
        try:
            module.update(ctx, current, previous.properties)
        except Exception:
            logger.exception("rollback: could not restore %s", previous.logical_id)


def destroy_stack(env: Environment, name: str) -> None:
    """Delete everything the stack created (reverse order) and forget it."""
    with _stack_lock(env.state_dir):
        _destroy(env, name)
    # the runtime stops the stack's pollers and environments now, not at its next look
    reload_runtime(env.endpoints)


def _destroy(env: Environment, name: str, *, nested: bool = False) -> None:
    state_dir = env.state_dir
    stacks = load_stacks(state_dir)
    if nested and name not in stacks:
        return  # a nested stack whose deploy failed (and rolled itself back)
    if not nested and name in stacks and stacks[name].parent in stacks:
        parent = stacks[name].parent
        raise DeployError(
            f"stack '{name}' is nested in '{parent}' (its resource "
            f"{name[len(parent) + 1 :]}); it is destroyed with its parent.",
            file=str(stack_file(state_dir, name)),
            fix=f"destroy the parent (`harness destroy {parent}`), or remove the nested stack "
            "from the parent's template and deploy the parent again.",
        )
    # first, so that a deploy that crashed before saving the stack leaves no server running
    stop_fake_servers(state_dir, name)
    if name not in stacks:
        raise DeployError(
            f"no deployed stack named '{name}' (deployed: {', '.join(sorted(stacks)) or 'none'}).",
            file=str(stack_file(state_dir, name)),
            fix="check the name with the stack files in <state_dir>/stacks/.",
        )
    stack = stacks[name]
    endpoints = env.endpoints
    ctx = Context(
        stack_name=name,
        region=str(endpoints.get("region", "us-east-1")),
        account_id=str(endpoints.get("account_id", "000000000000")),
        stack_dir=Path(stack.stack_dir),
        file=stack.template_path,
        client_factory=env.client,
    )
    ctx.destroy_nested = lambda child: _destroy(env, child, nested=True)
    order = [lid for lid in stack.order if lid in stack.resources] or list(stack.resources)
    order += [lid for lid in stack.resources if lid not in order]
    for logical_id in reversed(order):
        _delete_one(ctx, stack.resources[logical_id])
    ssm = ctx.client("ssm")
    for output in stack.outputs:
        ctx.quietly(ssm.delete_parameter, Name=output_parameter_name(name, output))
    for export in stack.exports:
        ctx.quietly(ssm.delete_parameter, Name=export_parameter_name(export))
    stack_file(state_dir, name).unlink(missing_ok=True)
    shutil.rmtree(state_dir / "stacks" / f"{name}.code", ignore_errors=True)
