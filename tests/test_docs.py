"""The docs stay true: the API reference builds cleanly, no template is left unfilled, and the
README's numbers and recipes are the ones in docs/RESULTS.md, the presets and the code."""

import re
import subprocess
import sys
import tomllib
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from statistics import mean

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS = ROOT / "docs" / "RESULTS.md"
PRESETS = ROOT / "src" / "aegan" / "presets"


def documents() -> list[Path]:
    return [README, *sorted((ROOT / "docs").rglob("*.md"))]


def flat(text: str) -> str:
    """Text with every run of whitespace as one space (sentences wrap anywhere)."""
    return re.sub(r"\s+", " ", text)


def sections(text: str) -> dict[str, str]:
    """The generated blocks of docs/RESULTS.md (scripts/results_page.py): name -> text between the markers."""
    return dict(re.findall(r"<!-- section (\S+) -->\n(.*?)<!-- end section \1 -->", text, flags=re.S))


def tables(text: str) -> list[dict[str, dict[str, str]]]:
    """Every Markdown table in `text`: first cell (without backticks) -> {column header: cell}.
    A header that repeats gets " (2)", " (3)"... (the book table has two "book" columns)."""
    found, lines = [], text.splitlines()
    for index, line in enumerate(lines[:-1]):
        if not (line.startswith("|") and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[index + 1].strip())):
            continue
        headers = []
        for cell in cells(line):
            count = sum(1 for header in headers if header.split(" (")[0] == cell)
            headers.append(f"{cell} ({count + 1})" if count else cell)
        table = {}
        for row in lines[index + 2:]:
            if not row.startswith("|"):
                break
            values = cells(row)
            table[values[0].strip("`")] = dict(zip(headers, values))
        found.append(table)
    return found


def cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def test_api_reference_builds_without_warnings(tmp_path):
    process = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = process.stdout + process.stderr
    assert process.returncode == 0, output
    assert "WARNING" not in output, output
    page = (tmp_path / "site" / "reference" / "api" / "index.html").read_text()
    assert "Train a preset" in page  # the docstrings were rendered, not just the page titles


PLACEHOLDERS = {
    "a {{template}} token": r"\{\{.*?\}\}",
    "a TODO, FIXME, TBD or XXX": r"\b(TODO|FIXME|TBD|XXX+)\b",
    "an unformatted {value} or {value:.3f}": r"\{[A-Za-z_][\w.]*(\[[^\]\n]*\])*(![rsa])?(:[^{}\s]*)?\}",
}
EMPTY_CELLS = {"nan", "none", "null", "inf", "-inf", "not trained", "?", "..."}


def test_no_unfilled_placeholders():
    problems = []
    for path in documents():
        text = path.read_text()
        for what, pattern in PLACEHOLDERS.items():
            problems += [f"{path.name}: {what}: {match.group(0)!r}" for match in re.finditer(pattern, text)]
        for table in tables(text):
            for row in table.values():
                for header, cell in row.items():
                    if cell.lower() in EMPTY_CELLS or re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+", cell):
                        problems.append(f"{path.name}: column {header!r} holds {cell!r}")
    assert not problems, "\n".join(problems)


def test_generated_sections_are_whole_and_filled():
    for path in documents():
        text = path.read_text()
        starts = re.findall(r"<!-- section (\S+) -->", text)
        ends = re.findall(r"<!-- end section (\S+) -->", text)
        assert starts == ends, f"{path.name}: section markers do not pair up: {starts} / {ends}"
        assert len(set(starts)) == len(starts), f"{path.name}: a section appears twice"
        for name, body in sections(text).items():
            assert len(body.strip()) > 100, f"{path.name}: section {name} is empty"
            assert "|" in body or "- " in body, f"{path.name}: section {name} holds neither a table nor a list"
    assert {"book", "representations", "generative", "pretraining", "mode-coverage", "photos"} <= set(
        sections(RESULTS.read_text()))


def results() -> dict[str, dict[str, dict[str, str]]]:
    """The first table of each section of docs/RESULTS.md."""
    return {name: tables(body)[0] for name, body in sections(RESULTS.read_text()).items() if tables(body)}


def rounded(cell: str, digits: int = 3, sign: bool = False) -> str:
    """A number as written in a table, rounded half up as a reader rounds it (0.0065 -> 0.007)."""
    value = Decimal(cell).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return f"{value:+}" if sign else str(value)


def three(cell: str) -> str:
    return rounded(cell, 3)


def mean_sd(cell: str, digits: int) -> str:
    """ "5.667 ± 0.577" or "0.7856 ± 0.0065" rounded to `digits` decimals, as the README quotes it."""
    average, spread = re.split(r"\s*(?:±|\+-)\s*", cell)
    return f"{rounded(average, digits)} ± {rounded(spread, digits)}"


def readme_quotes_of_results() -> list[str]:
    """What the README says about docs/RESULTS.md's numbers, written from those numbers."""
    tables_of = results()
    book, probes, generative = tables_of["book"], tables_of["representations"], tables_of["generative"]
    pretraining, modes = tables_of["pretraining"], tables_of["mode-coverage"]
    photos = tables(sections(RESULTS.read_text())["photos"])[0]  # the training budget

    def vae_row(preset):
        row = book[preset]
        elbo, active, size = re.search(r"neg\. ELBO ([\d.]+) nats, (\d+)/(\d+) active units", row["notes"]).groups()
        return f"| aegan `{preset}`, seed 42 | {row['aegan val loss']} | {row['aegan val rounded acc']} | {elbo} | " \
               f"{active} / {size} |"

    def probe(preset, pca=""):
        row = probes[preset]
        return f"{three(row[pca + 'linear probe'])} / {three(row[pca + '5-NN'])}"

    def gain(preset):
        return rounded(pretraining[preset]['fine-tuned − scratch'], 3, sign=True)

    stacked, conv_ae = book["stacked_ae"], probes["conv_ae"]
    fids = {preset: rounded(generative[preset]['FID'], 1) for preset in ("dcgan", "vae", "gan")}
    floor = next(row for key, row in generative.items() if key.startswith("floor"))
    accuracy = re.search(r"its test accuracy is ([\d.]+)", sections(RESULTS.read_text())["generative"]).group(1)
    mode_epochs = re.search(r"simple GAN \((\d+) epochs", sections(RESULTS.read_text())["mode-coverage"]).group(1)
    return [
        f"| book (Keras, ml2 notebook) | {stacked['book']} | {stacked['book (2)']} | - | - |",
        f"| aegan, seed 42 (default) | {stacked['aegan val loss']} | {stacked['aegan val rounded acc']} | "
        f"{probes['stacked_ae']['test reconstruction loss']} |",
        f"| book `vae` (Keras, ml2) | {book['vae']['book']} | {book['vae']['book (2)']} | - | - |",
        vae_row("vae"), vae_row("conv_vae"),
        f"`stacked_ae` {probe('stacked_ae')}, `tied_ae` {probe('tied_ae')}, the linear autoencoder "
        f"{probe('linear_pca_fashion')}, PCA {probe('stacked_ae', 'PCA ')}.",
        f"The convolutional encoder's {conv_ae['coding dims']}-D codings reach {probe('conv_ae')} "
        f"(PCA-{conv_ae['coding dims']}: {probe('conv_ae', 'PCA ')})",
        f"(test accuracy {accuracy}): FID `dcgan` (stopped after {generative['dcgan']['epochs']} of its "
        f"{preset_training('dcgan')['num_epochs']} epochs) {fids['dcgan']}, `vae` {fids['vae']}, `gan` "
        f"({generative['gan']['epochs']} epochs) {fids['gan']}, floor {rounded(floor['FID'], 1)}; classes covered "
        f"{generative['dcgan']['classes covered']}, {generative['vae']['classes covered']} and "
        f"{generative['gan']['classes covered']} of 10.",
        f"fine-tuning gives {mean_sd(pretraining['conv_ae']['reused, fine-tuned'], 3)} against "
        f"{mean_sd(pretraining['conv_ae']['from scratch'], 3)} from scratch ({gain('conv_ae')})",
        f"does not help ({gain('stacked_ae')}, {gain('denoising_gaussian_ae')})",
        f"({mode_epochs} epochs, 10,000 samples, `scripts/mode_coverage.py`",
        f"`gan` {mean_sd(modes['gan']['classes covered'], 1)} of 10 classes, with experience replay "
        f"{mean_sd(modes['gan + replay']['classes covered'], 1)}, with minibatch discrimination "
        f"{mean_sd(modes['gan + minibatch discrimination']['classes covered'], 1)}.",
        f"`gan` after {generative['gan']['epochs']} epochs",
        f"`cgan` after {generative['cgan']['epochs']} epochs",
        f"`dcgan` after only {generative['dcgan']['epochs']} epochs of batch "
        f"{preset_training('dcgan')['batch_size']}",
        f"`conv_ae` {photos['conv_ae']['epochs']} epochs, `conv_vae` {photos['conv_vae']['epochs']}, `dcgan` "
        f"{photos['dcgan']['epochs']});",
        *diffusion_quotes(tables_of["generative-budget-30min"]),
        *dcgan_screen_quotes(tables_of),
        *feature_quotes(),
    ]


def feature_quotes() -> list[str]:
    """The README's sentences on feature_ae's spherical codings and on fine-tuning its encoder."""
    blocks = sections(RESULTS.read_text())
    sphere = next(cells(line) for line in blocks["feature-ae-variants"].splitlines()
                  if line.startswith("| spherical codings | 20 |"))  # changed, epochs, minutes, linear, gain, 5-NN, gain
    labels, semi_supervised = tables(blocks["feature-ae-labels"])[:2]

    def signed(cell):  # "0.0167 ± 0.0065" -> "+0.017 ± 0.007"
        average, spread = re.split(r"\s*±\s*", cell)
        return f"{rounded(average, 3, sign=True)} ± {rounded(spread, 3)}"

    return [f"lifts 5-NN to {three(sphere[5])} ({rounded(sphere[6], 3, sign=True)} over PCA-30, 20 epochs) but lowers "
            f"the linear probe to {three(sphere[3])}",
            f"500 labels gains {signed(labels['500']['gain at 1e-3'])} over the same network",
            f"and {signed(labels['500']['gain at 1e-4'])} at the default tenth of it",
            f"gain is under a point ({signed(labels['5,000']['gain at 1e-3'])} at 1e-3)",
            f"gains {signed(semi_supervised['500']['gain over scratch'])} over scratch at 500 labels, and "
            f"{signed(semi_supervised['500']['gain over scratch, reconstructing'])} over a fresh network"]


def dcgan_screen_quotes(tables_of) -> list[str]:
    """The README's sentences on the DCGAN option screens at 3 and 8 minutes."""
    seed0, seeds, screen = (tables_of["mode-coverage-dcgan-3min"], tables_of["mode-coverage-dcgan-3min-seeds"],
                            tables_of["mode-coverage-dcgan-8min-screen"])
    plain, plus = tables_of["mode-coverage-dcgan-8min-seeds"]["dcgan"], \
        tables_of["mode-coverage-dcgan-8min-seeds"]["dcgan + ema 0.99"]

    def first(row, column, digits=1):  # "97.9 ± 0.0" -> "97.9"
        return rounded(row[column].split("±")[0].strip(), digits)

    fid = {name.removeprefix("dcgan + "): first(row, "FID") for name, row in screen.items() if name.startswith("dcgan")}
    return [f"(over 3 seeds: FID {seeds['dcgan']['FID']}, class KL {seeds['dcgan']['class KL to test']})",
            f"(`training.ema_decay=0.99`: FID {first(seed0['dcgan + ema 0.99'], 'FID')}, class KL "
            f"{first(seed0['dcgan + ema 0.99'], 'class KL to test', 3)}) did not hold over 3 seeds "
            f"(FID {seeds['dcgan + ema 0.99']['FID']})",
            f"beats the plain `dcgan` (FID {fid['dcgan']}): a moving average of 0.99 ties it ({fid['ema 0.99']})",
            f"trail it ({fid['learning rate 2e-3']}, {fid['ema 0.999']}, {fid['hinge']}, {fid['spectral norm']})",
            f"half the book's learning rate ({fid['learning rate 5e-4']}) and Adam with the DCGAN paper's "
            f"settings ({fid['adam']}:",
            f"(FID per seed {plus['FID per seed']} against {plain['FID per seed']}; {plus['FID']} against "
            f"{plain['FID']}) and covers every class in every seed (class KL {plus['class KL to test']})"]


def diffusion_quotes(budget: dict[str, dict[str, str]]) -> list[str]:
    """The README's sentence on the 30-minute table of ddpm, dcgan and the VAEs."""
    ddim50, ddim250, dcgan = (budget["ddpm (DDIM, 50 steps)"], budget["ddpm (DDIM, 250 steps)"],
                              budget["dcgan (one pass)"])

    def first(row, column, digits):  # "64.1 ± 0.0" -> "64.1" (one seed)
        return rounded(row[column].split("±")[0].strip(), digits)

    def steps(row):  # "6471 ± 0 (3.8 epochs)" -> "6,471"
        return f"{int(row['steps'].split('±')[0]):,}"

    progan, stylegan = budget["progan (one pass)"], budget["stylegan (one pass)"]
    plus = budget["dcgan_plus (one pass)"]
    seconds = "sampling s / 1,000"
    return [f"`ddpm` reaches FID {first(ddim50, 'FID', 1)} with DDIM in 50 steps and {first(ddim250, 'FID', 1)} in "
            f"250, against {first(dcgan, 'FID', 1)} for `dcgan`",
            f"`dcgan`'s KID is lower ({first(dcgan, 'KID', 2)} against {first(ddim50, 'KID', 2)} and "
            f"{first(ddim250, 'KID', 2)}), and it samples 1,000 images in {first(dcgan, seconds, 2)} s against "
            f"{first(ddim50, seconds, 2)} s and {first(ddim250, seconds, 2)} s.",
            f"(FID `vae` {first(budget['vae (one pass)'], 'FID', 1)}, `conv_vae` "
            f"{first(budget['conv_vae (one pass)'], 'FID', 1)})",
            f"`progan` (FID {first(progan, 'FID', 1)}) and `stylegan` (FID {first(stylegan, 'FID', 1)}) trail `dcgan`",
            f"took {steps(progan)} and {steps(stylegan)} steps in the 30 minutes against `dcgan`'s {steps(dcgan)}, "
            f"and their recall is low ({first(progan, 'recall', 3)} and {first(stylegan, 'recall', 3)})",
            f"`dcgan_plus` beats `dcgan` at this budget too (FID {first(plus, 'FID', 1)}, KID {first(plus, 'KID', 2)}, "
            f"recall {first(plus, 'recall', 3)}, in {steps(plus)} steps)"]


def test_readme_numbers_are_those_of_the_results_page():
    readme = flat(README.read_text())
    missing = [quote for quote in readme_quotes_of_results() if flat(quote) not in readme]
    assert not missing, "the README does not say (or no longer says) what docs/RESULTS.md holds:\n" + \
        "\n".join(missing)


def test_readme_stacked_autoencoder_seeds_say_what_the_text_claims():
    table = next(table for table in tables(README.read_text()) if "aegan, seed 42 (default)" in table)
    seeds = [row for key, row in table.items() if key.startswith("aegan, seed")]
    book = float(table["book (Keras, ml2 notebook)"]["val loss"])
    assert len(seeds) == 5 and all(float(row["val loss"]) < book for row in seeds)  # "beats the book's on every seed"
    average = mean(float(row["val rounded accuracy"]) for row in seeds)
    assert f"(mean of the five seeds {average:.4f})" in flat(README.read_text())


def preset_training(name: str) -> dict:
    return tomllib.loads((PRESETS / f"{name}.toml").read_text()).get("training", {})


def preset_model(name: str) -> dict:
    return tomllib.loads((PRESETS / f"{name}.toml").read_text())["model"]


OPTIMIZER_NAMES = {"sgd": "SGD", "rmsprop": "RMSprop", "adam": "Adam", "nadam": "Nadam"}


def test_readme_models_table_gives_each_presets_recipe():
    table = next(table for table in tables(README.read_text()) if "stacked_ae" in table and "recipe" in
                 next(iter(table.values())))
    assert set(table) == {path.stem for path in PRESETS.glob("*.toml")}
    for preset, row in table.items():
        recipe = row["recipe"]
        same = re.match(r"as `(\w+)`", recipe)
        training = preset_training(preset)
        if same:  # "as `vae`": the other preset's recipe
            other = preset_training(same.group(1))
            assert {key: training[key] for key in ("optimizer", "learning_rate", "batch_size", "num_epochs")} == \
                {key: other[key] for key in ("optimizer", "learning_rate", "batch_size", "num_epochs")}, preset
            continue
        epochs = re.findall(r"(\d+) epochs", recipe)
        assert epochs and int(epochs[-1]) == training["num_epochs"], f"{preset}: {recipe}"
        rates = re.findall(r"(SGD|RMSprop|Adam|Nadam) ([\d.]+)", recipe)
        optimizer, rate = rates[-1]
        assert optimizer == OPTIMIZER_NAMES[training["optimizer"]], f"{preset}: {recipe}"
        assert float(rate) == training["learning_rate"], f"{preset}: {recipe}"
        batch = re.search(r"batch (\d+)", recipe)  # the seed's 32 where the recipe does not say
        assert (int(batch.group(1)) if batch else 32) == training["batch_size"], f"{preset}: {recipe}"


def test_readme_sparsity_weights_are_the_presets():
    table = next(table for table in tables(README.read_text()) if "sparse_kl_ae" in table)
    kl, l1 = preset_model("sparse_kl_ae"), preset_model("sparse_l1_ae")
    expected = f"target {kl['sparsity_target']:g}, weight {kl['sparsity_weight']:g}"
    assert re.search(rf"{expected}\b", table["sparse_kl_ae"]["what"]), f"README sparse_kl_ae: not {expected!r}"
    written = re.search(r"L1 activity penalty \(([\de.-]+)\)", table["sparse_l1_ae"]["what"]).group(1)
    assert float(written) == l1["sparsity_weight"], f"README sparse_l1_ae: {written}, preset {l1['sparsity_weight']}"


def test_readme_model_contract_holds():
    """The README: autoencoders have encode, decode, forward and loss_terms; a GAN has generate, decode,
    discriminate and sample, and no encoder, forward or loss_terms; a diffusion model has loss_terms,
    decode, ddim, ddpm and sample, and no encoder or forward."""
    import torch.nn as nn

    from aegan.models import FAMILIES

    for kind, family in FAMILIES.items():
        if family.training_loop == "diffusion":
            assert all(hasattr(family, name) for name in ("loss_terms", "decode", "ddim", "ddpm", "sample")), kind
            assert family.forward is nn.Module.forward and "encode" not in family.capabilities, kind
        elif family.training_loop == "gan":
            assert all(hasattr(family, name) for name in ("generate", "decode", "discriminate", "sample")), kind
            assert not hasattr(family, "loss_terms") and family.forward is nn.Module.forward, kind
            assert "encode" not in family.capabilities, kind
        else:
            assert all(hasattr(family, name) for name in ("encode", "decode", "loss_terms")), kind
            assert family.forward is not nn.Module.forward, kind


def test_docs_index_names_readme_sections_that_exist():
    index = (ROOT / "docs" / "index.md").read_text()
    headings = set(re.findall(r"^#+ (.+)$", README.read_text(), flags=re.M))
    named = re.findall(r"(?<!\*)\*([^*]+)\*(?!\*)", index)  # *Section*, not **bold**
    assert named and set(named) <= headings, set(named) - headings


def test_readme_initialisation_claim_holds():
    """The README: Keras' initialisation (zero biases) for every preset's model but conv_vae, dcgan,
    feature_ae and ddpm (progan's and stylegan's equalised layers are their own, and described apart)."""
    import torch.nn as nn

    from aegan.config import load_config, preset_names
    from aegan.data.fashion_mnist import fashion_mnist_spec
    from aegan.data.sources import load_splits
    from aegan.models import build_model

    assert "`conv_vae`, `dcgan`, `feature_ae` and `ddpm` keep PyTorch's default initialisation" in flat(
        README.read_text())
    for preset in preset_names():
        config = load_config(preset)
        spec = load_splits(config.data).spec if config.data.dataset == "toy3d" else fashion_mnist_spec()
        model = build_model(config.model.for_data(spec))
        biases = [module.bias for module in model.modules()
                  if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)) and module.bias is not None]
        zero = [bool((bias == 0).all()) for bias in biases]
        if config.model.kind in ("conv_vae", "dcgan", "feature_ae", "ddpm"):  # wgan_gp is a dcgan too
            assert not all(zero), preset
        else:
            assert all(zero), preset
