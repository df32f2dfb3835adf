// The floors of src/, written as rules (docs/architecture.md draws them).
//
//   doors     src/api, src/k8s, src/cli          talk to the core
//   core      src/task                           the task model, runner, translation of a launch
//   parts     src/parts                          connect a task to one adapter each
//   adapters  src/runtime, src/gpu, src/vpc,     talk to the world (docker, GPUs, ENIs,
//             src/metadata-proxy, src/host,      the metadata service, the host, log files);
//             src/logs, src/volumes              they define their own small types
//   neutral   src/common, src/proto/generated    general helpers, the generated wire types: usable by all
//
// An import may only point down. Every rule below is a "forbidden" rule, so a
// wrong-way import fails `npm run lint:deps` (and with it `npm test`).
const ADAPTERS = "^src/(runtime|gpu|vpc|metadata-proxy|host|logs|volumes)/";
const CORE = "^src/task/";
const PARTS = "^src/parts/";
const DOORS = "^src/(api|k8s|cli)/";
const ROOT = "^src/(executor|compose)\\.ts$";
const CONFIG = "^src/config/";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "adapter-imports-above",
      severity: "error",
      comment:
        "Adapters are the ground floor: they import nothing from the core, the parts, the doors, the config module or the " +
        "composition root. Give the adapter its own small type (and its own config slice) and let the core adapt to it.",
      from: { path: ADAPTERS },
      to: { path: [CORE, PARTS, DOORS, ROOT, CONFIG] },
    },
    {
      name: "core-imports-door",
      severity: "error",
      comment:
        "The core does not know its doors (gRPC, interLink, the CLI). Whatever a door and the core both need " +
        "(validation, quantity parsing) lives in the core or in src/common.",
      from: { path: CORE },
      to: { path: [DOORS, ROOT] },
    },
    {
      name: "parts-import-door",
      severity: "error",
      comment: "Parts are built by the composition root and used by the core; they never reach a door.",
      from: { path: PARTS },
      to: { path: [DOORS, ROOT] },
    },
    {
      name: "door-imports-part",
      severity: "error",
      comment:
        "Doors talk to the core (TaskService and the core's types), never to a part: the composition root " +
        "(src/executor.ts, src/compose.ts) builds the parts and hands them to the core.",
      from: { path: DOORS },
      to: { path: PARTS },
    },
    {
      name: "door-imports-adapter",
      severity: "error",
      comment:
        "Doors reach the adapters only through the core: what a door needs of an adapter (an error check, a log " +
        "reader's type, the drain switch's limit) the core names for it (src/task/task-service.ts). Building " +
        "adapters is the composition root's job (src/executor.ts, src/compose.ts), which a door may call.",
      from: { path: DOORS },
      to: { path: ADAPTERS },
    },
    {
      name: "common-imports-project",
      severity: "error",
      comment: "src/common holds general helpers; it imports nothing else from src/.",
      from: { path: "^src/common/" },
      to: { path: "^src/", pathNot: "^src/common/" },
    },
    {
      name: "proto-imports-project",
      severity: "error",
      comment:
        "src/proto/generated holds the wire types generated from proto/ (npm run generate); the core and the doors " +
        "both use them, so they sit beside src/common and import nothing else from src/.",
      from: { path: "^src/proto/" },
      to: { path: "^src/", pathNot: "^src/proto/" },
    },
    {
      name: "no-circular",
      severity: "error",
      comment: "No import circles in src/: each circle is a knot that a reader must untie in their head.",
      from: { path: "^src/" },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".js", ".d.ts"],
    },
    reporterOptions: {
      archi: { collapsePattern: "^src/[^/]+" },
    },
  },
};
