"""generator.py: seeded random R notebooks and random edit sessions (execute again, edit, insert, delete, move) for the differential test.
Pure Python and deterministic per seed; knows the kernel's request shapes only as abstract actions, nothing about Jupyter messages, R or ripple's engine.
"""

import random
import re
from dataclasses import dataclass, field

# ---------------------------------------------------------------------------------------------
# Cell code templates. Each returns one top-level R statement. Names are drawn from small pools
# so that cells redefine and read each other's names. Statements keep calls and messages short
# (R wraps "Error in <call> : <msg>" lines longer than ~75 characters; the composite format
# does not) and never draw random numbers without a seed set earlier (see rng_valid).
# ---------------------------------------------------------------------------------------------

NUM = ["x", "y", "z", "k"]
WORDS = ["alpha", "beta", "gamma", "delta"]


class Context:
    """What the cells above a position (roughly) define: biases templates towards names that
    exist, so that most cells succeed and depend on each other; the rest read names that do
    not exist (yet, or any more) and must fail exactly like a fresh run."""

    def __init__(self, rng, defined=(), mass=False):
        self.rng = rng
        self.defined = set(defined)
        self.mass = mass

    def num(self):
        known = [n for n in NUM if n in self.defined]
        if known and self.rng.random() < 0.93:
            return self.rng.choice(known)
        return self.rng.choice(NUM)

    def has(self, *names):
        return all(n in self.defined for n in names)


ASSIGN_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_.]*) <- ")
ASSIGN_FN_RE = re.compile(r'^assign\("([A-Za-z][A-Za-z0-9_.]*)"')
RM_RE = re.compile(r"^rm\(([A-Za-z][A-Za-z0-9_.]*)\)$")


def context_for(rng, codes_above):
    """Static approximation of the names bound after running codes_above (errors ignored)."""
    ctx = Context(rng)
    for code in codes_above:
        for stmt in code.split("\n"):
            m = ASSIGN_RE.match(stmt) or ASSIGN_FN_RE.match(stmt)
            if m:
                ctx.defined.add(m.group(1))
            m = RM_RE.match(stmt)
            if m:
                ctx.defined.discard(m.group(1))
            if stmt == "library(MASS)":
                ctx.mass = True
    return ctx


def _i(rng, lo=1, hi=9):
    return rng.randint(lo, hi)


def t_assign_const(c):
    return f"{c.rng.choice(NUM)} <- {_i(c.rng)}"


def t_assign_self(c):
    n = c.num()
    if n not in c.defined:
        return t_assign_const(c)
    return f"{n} <- {n} + {_i(c.rng)}"


def t_assign_expr(c):
    return f"{c.rng.choice(NUM)} <- {c.num()} {c.rng.choice(['+', '*', '-'])} {c.num()}"


def t_assign_fn(c):
    return f"assign(\"{c.rng.choice(NUM)}\", {_i(c.rng)})"


def t_vector(c):
    return f"v <- c({_i(c.rng)}, {_i(c.rng)}, {_i(c.rng)})"


def t_vector_index(c):
    return f"v[{_i(c.rng, 1, 3)}] <- {_i(c.rng, 10, 99)}"


def t_vector_names(c):
    return "names(v) <- c(" + ", ".join(f'"{ch}"' for ch in c.rng.sample("abcdef", 3)) + ")"


def t_vector_attr(c):
    return f"attr(v, \"u\") <- \"{c.rng.choice(WORDS)}\""


def t_vector_scale(c):
    return c.rng.choice([f"v <- v * {c.num()}", "v <- rev(v)", f"v <- v + {_i(c.rng)}"])


def t_list(c):
    return f"l <- list(a = {_i(c.rng)}, b = \"{c.rng.choice(WORDS)}\")"


def t_list_field(c):
    return c.rng.choice([f"l$a <- {_i(c.rng)}", f"l$c <- {c.num()}",
                         f"l$b <- \"{c.rng.choice(WORDS)}\"", "l[[\"a\"]] <- l$a * 2"])


def t_df(c):
    n = _i(c.rng, 3, 6)
    return f"df <- data.frame(a = 1:{n}, b = letters[1:{n}])"


def t_df_filter(c):
    return c.rng.choice([f"df <- df[df$a > {_i(c.rng, 1, 3)}, ]",
                         f"df <- df[df$a != {_i(c.rng, 1, 4)}, ]"])


def t_df_column(c):
    return c.rng.choice([f"df$c <- df$a * {_i(c.rng)}", f"df$c <- df$a + {c.num()}"])


def t_function(c):
    k = c.num()
    return c.rng.choice([f"f <- function(a) a + {k}", f"f <- function(a) a * {k}",
                         f"g <- function(n) f(n) * {_i(c.rng)}"])


def t_function_call(c):
    if c.has("g") and c.rng.random() < 0.4:
        return c.rng.choice([f"g({c.num()})", f"y <- g({_i(c.rng)})"])
    return c.rng.choice([f"{c.rng.choice(NUM)} <- f({c.num()})", f"f({_i(c.rng)})"])


def t_set_seed(c):
    return f"set.seed({_i(c.rng, 1, 99)})"


def t_rng_draw(c):
    return c.rng.choice([f"r <- round(runif({_i(c.rng, 1, 3)}), 4)",
                         f"sample({_i(c.rng, 5, 20)}, 3)", "round(rnorm(2), 3)",
                         f"s <- sample({_i(c.rng, 3, 9)})", "r <- r + runif(1)"])


def t_options(c):
    return c.rng.choices([f"options(digits = {_i(c.rng, 2, 10)})",
                          f"options(scipen = {_i(c.rng, -3, 6)})", "options(OutDec = \",\")",
                          "options(OutDec = \".\")", "options(digits = 7)"],
                         weights=[4, 3, 1, 1, 2])[0]


def t_numbers(c):
    return c.rng.choice(["pi * 100", f"1 / {c.rng.choice([3, 7, 9])}", f"exp({_i(c.rng, 1, 5)})",
                         "c(1.123456789, 22.5, 333.25)", "123456789", "0.00001234",
                         f"{c.num()} / 3", "1e5", f"print(pi * {_i(c.rng)})"])


def t_library(c):
    return "library(MASS)"


def t_mass_use(c):
    return c.rng.choice([f"fractions({c.num()} / 4)", "fractions(0.25)",
                         "ginv(matrix(c(2, 0, 0, 4), 2))", "MASS::fractions(0.75)",
                         f"m <- ginv(diag(2) * {c.num()})"])


def t_print(c):
    # Never print `df` bare: unbound, it is stats::df, whose print shows a bytecode address.
    n = c.rng.choice([c.num(), c.num(), "v", "l"])
    return c.rng.choice([n, f"print({n})", f"cat(\"{n} =\", {c.num()}, \"\\n\")",
                         f"message(\"{n} is \", {c.num()})", "str(l)", "nrow(df)",
                         "v", "df[df$a > 0, ]", f"cat(\"no newline\", {c.num()})"])


def t_warning(c):
    return c.rng.choice(["w <- as.integer(\"q\")", "w <- sqrt(-1)", "warning(\"careful\")",
                         f"rm({c.rng.choice(['q1', 'q2'])})"])


def t_error(c):
    return c.rng.choice([f"stop(\"bad \", {c.num()})", "nothere + 1", "f(nothere)",
                         "stop(\"boom\")"])


def t_rm(c):
    return f"rm({c.rng.choice(NUM + ['v', 'l', 'f'])})"


def t_reflect(c):
    # Reads by a literal name (SPEC section 3): a use of that name whether it is bound or not.
    n, m = c.num(), c.rng.choice(NUM)
    return c.rng.choice([f"exists(\"{m}\")", f"get0(\"{m}\", ifnotfound = 0)", f"if (exists(\"{m}\")) {m} else -1",
                         f"mget(c(\"{n}\", \"{m}\"), ifnotfound = list(NA))", f"globalenv()[[\"{m}\"]]",
                         f"eval(quote({n} + 1))", f"eval(parse(text = \"{n} * 2\"))", f"get(\"{n}\") - 1"])


def t_reflect_all(c):
    # Reads the analysis cannot resolve to names: the whole global environment.
    return c.rng.choice(["ls()", "length(ls())", f"get(paste0(\"{c.rng.choice(['x', 'y'])}\", \"\"))",
                         "sort(names(mget(ls(), envir = globalenv())))", "nm <- \"k\"; exists(nm)"])


def t_envvar(c):
    return c.rng.choice([f"Sys.setenv(REGION = \"{c.rng.choice(['west', 'east', 'north'])}\")",
                         "Sys.unsetenv(\"REGION\")", f"Sys.setenv(RIPPLE_N = {_i(c.rng)})"])


def t_envvar_read(c):
    return c.rng.choice(["Sys.getenv(\"REGION\")", "Sys.getenv(\"RIPPLE_N\", \"0\")",
                         "nchar(Sys.getenv(\"REGION\"))", f"{c.rng.choice(NUM)} <- as.numeric(Sys.getenv(\"RIPPLE_N\", \"1\"))"])


def t_reflect_fn(c):
    return f"g <- function() get0(\"{c.rng.choice(NUM)}\", ifnotfound = 0) * 10"


def t_reflect_call(c):
    return c.rng.choice(["g()", f"{c.rng.choice(NUM)} <- g()"])


def t_dt(c):
    # data.table changed in place (`:=`, set()): opaque to snapshots, rebuilt from its defining cell after an edit.
    return f"dt <- data.table::data.table(a = 1:3, b = {c.num()})"


def t_dt_change(c):
    return c.rng.choice([f"dt[, b := a * {_i(c.rng)}]", f"dt[, c := b + {c.num()}]",
                         f"data.table::set(dt, j = \"b\", value = {_i(c.rng)})"])


def t_dt_read(c):
    # Never `dt` bare: unbound, it is stats::dt, whose print shows a bytecode address.
    return c.rng.choice(["dt[]", "print(dt[])", "dt[, sum(b)]", "nrow(dt)", "dt[a > 1]"])


def t_file_write(c):
    # A file through a computed path, named by a variable the writer binds only once the file is written (a failing
    # writer leaves the name unbound or as it was): a reader below depends on the writer through the variable and the
    # file's content. The name is unique to this writer statement (a fresh token), so no two cells write one file; a
    # digit edit changes only what is written. Short enough for R's console to echo on one line (engine.reference).
    token = "".join(c.rng.choice("abcdefghjkmnpqrstuvwxyz") for _ in range(6))
    if c.rng.random() < 0.5:
        return f'fa <- {{p <- paste0("g-", "{token}"); writeLines(as.character({c.num()} + {_i(c.rng)}), p); p}}'
    return f'fb <- {{p <- paste0("g-", "{token}"); saveRDS({c.num()} * {_i(c.rng)}, p); p}}'


def t_file_read(c):
    if "fa" in c.defined and (c.rng.random() < 0.5 or "fb" not in c.defined):
        return c.rng.choice(["as.numeric(readLines(fa)) + 1", f"{c.rng.choice(NUM)} <- as.numeric(readLines(fa))",
                             "length(readLines(fa))"])
    return c.rng.choice(["readRDS(fb) * 2", f"{c.rng.choice(NUM)} <- readRDS(fb)"])


# (template, weight, names it needs above to be likely to succeed, needs MASS attached)
TEMPLATES = [
    (t_assign_const, 10, (), False), (t_assign_self, 6, (), False),
    (t_assign_expr, 5, (), False), (t_assign_fn, 1, (), False),
    (t_vector, 4, (), False), (t_vector_index, 3, ("v",), False),
    (t_vector_names, 2, ("v",), False), (t_vector_attr, 2, ("v",), False),
    (t_vector_scale, 2, ("v",), False), (t_list, 3, (), False),
    (t_list_field, 3, ("l",), False), (t_df, 3, (), False), (t_df_filter, 3, ("df",), False),
    (t_df_column, 2, ("df",), False), (t_function, 4, (), False),
    (t_function_call, 4, ("f",), False), (t_set_seed, 3, (), False), (t_rng_draw, 4, (), False),
    (t_options, 3, (), False), (t_numbers, 4, (), False), (t_library, 2, (), False),
    (t_mass_use, 3, (), True), (t_print, 8, (), False), (t_warning, 2, (), False),
    (t_error, 1, (), False), (t_rm, 2, (), False),
    (t_reflect, 4, (), False), (t_reflect_fn, 1, (), False), (t_reflect_call, 2, ("g",), False),
    (t_dt, 2, (), False), (t_dt_change, 3, ("dt",), False), (t_dt_read, 3, ("dt",), False),
    (t_reflect_all, 2, (), False), (t_envvar, 2, (), False), (t_envvar_read, 3, (), False),
    (t_file_write, 3, (), False), (t_file_read, 4, ("fa",), False), (t_file_read, 2, ("fb",), False),
]
UNMET_FACTOR = 0.1      # weight kept by a template whose names are not defined above

SEED_RE = re.compile(r"^set\.seed\(")
DRAW_RE = re.compile(r"\b(runif|rnorm|sample)\(")


def random_statement(ctx: Context) -> str:
    funcs, weights = [], []
    for fn, weight, needs, mass in TEMPLATES:
        met = ctx.has(*needs) and (ctx.mass or not mass)
        funcs.append(fn)
        weights.append(weight if met else weight * UNMET_FACTOR)
    stmt = ctx.rng.choices(funcs, weights=weights)[0](ctx)
    m = ASSIGN_RE.match(stmt) or ASSIGN_FN_RE.match(stmt)
    if m:
        ctx.defined.add(m.group(1))
    if stmt == "library(MASS)":
        ctx.mass = True
    return stmt


def _seed_first(stmts):
    # A set.seed is always the cell's first statement, so that nothing (not even an error) can
    # come before it: a cell that seeds is a seed for everything it draws and everything below.
    seeds = [s for s in stmts if SEED_RE.match(s)]
    if seeds:
        stmts = [seeds[0]] + [s for s in stmts if not SEED_RE.match(s)]
    return "\n".join(stmts)


def random_cell_code(rng: random.Random, codes_above=()) -> str:
    ctx = context_for(rng, codes_above)
    n = rng.choices([1, 2, 3], weights=[5, 4, 2])[0]
    return _seed_first([random_statement(ctx) for _ in range(n)])


def mutate_code(rng: random.Random, code: str, codes_above=()) -> str:
    """A small edit: change one integer literal, or else replace one statement."""
    nums = list(re.finditer(r"(?<![\w.])\d(?![\w.])", code))
    if nums and rng.random() < 0.6:
        m = rng.choice(nums)
        new = str((int(m.group()) + rng.randint(1, 8)) % 10)
        return code[:m.start()] + new + code[m.end():]
    stmts = code.split("\n")
    i = rng.randrange(len(stmts))
    stmts[i] = random_statement(context_for(rng, list(codes_above) + ["\n".join(stmts[:i])]))
    return _seed_first(stmts)


def seeds(code: str) -> bool:
    return bool(SEED_RE.match(code))


def draws(code: str) -> bool:
    return bool(DRAW_RE.search(code))


def rng_valid(codes) -> bool:
    """Every cell that draws random numbers is seeded: by its own first statement or by a cell
    above whose first statement is set.seed (so a fresh run is deterministic)."""
    seeded = False
    for code in codes:
        if seeds(code):
            seeded = True
        elif draws(code) and not seeded:
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Sessions
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    id: str
    code: str


@dataclass(frozen=True)
class Action:
    """One request to the kernel: execute a tracked cell, or send the notebook on the comm."""
    kind: str                       # "execute" | "notebook"
    cell_id: str = None
    code: str = None
    deleted: tuple = ()             # metadata.deletedCells of an execute
    notebook: tuple = None          # tuple of Cell for "notebook"

    def describe(self, code=False):
        if self.kind == "execute":
            extra = f" deletedCells={list(self.deleted)}" if self.deleted else ""
            shown = f" {self.code!r}" if code else ""
            return f"execute {self.cell_id}{shown}{extra}"
        return "comm notebook [" + ", ".join(c.id for c in self.notebook) + "]"


@dataclass
class Step:
    index: int
    op: str
    actions: list
    doc: tuple                      # document (tuple of Cell) after the step

    def describe(self, code=False):
        return (f"step {self.index}: {self.op} -> "
                + "; ".join(a.describe(code) for a in self.actions))


@dataclass
class Session:
    seed: int
    steps: list = field(default_factory=list)


MIN_CELLS, MAX_CELLS = 2, 9


class _Builder:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.doc = []                   # list of Cell
        self.last_executed = None       # id of the last cell we sent an execute_request for
        self.next_id = 0

    def new_id(self):
        self.next_id += 1
        return f"cell-{self.next_id}"

    def new_code(self, doc_codes_at, position):
        """A random code that keeps the document RNG-valid when placed at position."""
        for _ in range(50):
            code = random_cell_code(self.rng, doc_codes_at[:position])
            codes = list(doc_codes_at)
            codes.insert(position, code)
            if rng_valid(codes):
                return code
        return f"x <- {_i(self.rng)}"

    def execute(self, cell_id, code, deleted=()):
        self.last_executed = cell_id
        return Action("execute", cell_id=cell_id, code=code, deleted=tuple(deleted))

    def notebook(self):
        return Action("notebook", notebook=tuple(self.doc))

    def codes(self, doc=None):
        return [c.code for c in (self.doc if doc is None else doc)]

    def index_of(self, cell_id):
        for i, c in enumerate(self.doc):
            if c.id == cell_id:
                return i
        return None

    # ---- operations; each returns (op description, actions) or None when not applicable ----

    def op_init(self):
        n = self.rng.randint(4, 7)
        actions = []
        for i in range(n):
            if i == 0 and self.rng.random() < 0.7:
                # Usually start from a cell of plain definitions that the others can build on.
                names = self.rng.sample(NUM, 2)
                code = "\n".join(f"{name} <- {_i(self.rng)}" for name in names)
            else:
                code = self.new_code(self.codes(), len(self.doc))
            cell = Cell(self.new_id(), code)
            self.doc.append(cell)
            actions.append(self.execute(cell.id, code))
        return f"init: {n} cells executed top to bottom", actions

    def op_rerun(self):
        cell = self.rng.choice(self.doc)
        return f"execute {cell.id} again", [self.execute(cell.id, cell.code)]

    def op_edit(self):
        i = self.rng.randrange(len(self.doc))
        old = self.doc[i]
        for _ in range(20):
            above = self.codes()[:i]
            if self.rng.random() < 0.5:
                code = mutate_code(self.rng, old.code, above)
            else:
                code = random_cell_code(self.rng, above)
            codes = self.codes()
            codes[i] = code
            if code != old.code and rng_valid(codes):
                break
        else:
            return None
        self.doc[i] = Cell(old.id, code)
        return f"edit {old.id} and execute it", [self.execute(old.id, code)]

    def op_insert(self):
        if len(self.doc) >= MAX_CELLS:
            return None
        pos = self.rng.randint(0, len(self.doc))
        code = self.new_code(self.codes(), pos)
        cell = Cell(self.new_id(), code)
        last = self.index_of(self.last_executed) if self.last_executed else None
        default_pos = (last + 1) if last is not None else (0 if not self.doc else None)
        self.doc.insert(pos, cell)
        if pos == default_pos:
            # The kernel places a new id after the cell executed before it: no comm needed.
            return (f"insert {cell.id} at {pos} (after the last executed cell) and execute it",
                    [self.execute(cell.id, code)])
        if self.rng.random() < 0.5:
            nb = self.notebook()
            return (f"insert {cell.id} at {pos} (notebook on the comm, then execute)",
                    [nb, self.execute(cell.id, code)])
        ex = self.execute(cell.id, code)
        return (f"insert {cell.id} at {pos} (execute, then notebook on the comm)",
                [ex, self.notebook()])

    def op_delete(self):
        if len(self.doc) <= MIN_CELLS:
            return None
        k = 1 if self.rng.random() < 0.8 or len(self.doc) <= MIN_CELLS + 1 else 2
        victims = self.rng.sample(self.doc, k)
        rest = [c for c in self.doc if c not in victims]
        if not rng_valid(self.codes(rest)):
            return None
        self.doc = rest
        ids = [c.id for c in victims]
        if self.rng.random() < 0.6:
            # JupyterLab: the deletion rides on the next execute_request (of another cell).
            other = self.rng.choice(self.doc)
            return (f"delete {', '.join(ids)} (deletedCells on executing {other.id})",
                    [self.execute(other.id, other.code, deleted=ids)])
        return f"delete {', '.join(ids)} (notebook on the comm)", [self.notebook()]

    def op_move(self):
        if len(self.doc) < 2:
            return None
        i = self.rng.randrange(len(self.doc))
        j = self.rng.randrange(len(self.doc) - 1)
        if j >= i:
            j += 1
        doc = list(self.doc)
        cell = doc.pop(i)
        doc.insert(j, cell)
        if not rng_valid(self.codes(doc)):
            return None
        self.doc = doc
        return f"move {cell.id} from {i} to {j} (notebook on the comm)", [self.notebook()]

    OPS = [("op_rerun", 2), ("op_edit", 4), ("op_insert", 3), ("op_delete", 1.5), ("op_move", 2)]

    def random_op(self):
        names = [n for n, _ in self.OPS]
        weights = [w for _, w in self.OPS]
        for _ in range(100):
            result = getattr(self, self.rng.choices(names, weights=weights)[0])()
            if result is not None:
                return result
        return self.op_rerun()


def generate_session(seed: int, steps: int) -> Session:
    """Session = step 0 (build the initial notebook) + `steps` random edit steps.

    Step j depends only on the seed and the steps before it, so a session with fewer steps is a
    prefix of one with more: `--steps` may be cut down when replaying a failure.
    """
    b = _Builder(seed)
    session = Session(seed)
    op, actions = b.op_init()
    session.steps.append(Step(0, op, actions, tuple(b.doc)))
    for index in range(1, steps + 1):
        op, actions = b.random_op()
        session.steps.append(Step(index, op, actions, tuple(b.doc)))
    return session
