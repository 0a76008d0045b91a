"""The Keras peers of benchmarks/versus_keras.py: the seed's models, its training code, a tuned loop.

keras-seed   the book's code (Hands-On Machine Learning, chapter 17, the ml2 notebook) in Keras 3:
             `model.fit()` with the book's optimizer, loss, metric and batch size for the
             autoencoders; the book's `train_gan` loop for the GANs (a tf.data pipeline with
             shuffle(1000), `generator(noise)`, `discriminator.trainable` toggled around
             `discriminator.train_on_batch` and `gan.train_on_batch`).
keras-tuned  the same models and optimizers; one training step (both phases for a GAN) is one
             call of a `tf.function` that gathers its batch from the images held as a tensor.

Two changes that Keras 3 forces on the seed's code: `add_loss` of a symbolic tensor (the VAE's
latent loss) moved into a layer, and `input_shape=` replaced by `keras.Input`. The progress
bar is off (verbose=0), which can only make Keras faster. Import this module only after
`configure_tensorflow`, which must run before TensorFlow executes anything.
"""

from __future__ import annotations

import math
import time

import numpy as np
import tensorflow as tf
import keras
from keras import layers, ops

# jit_compile of the tuned step, per model: whichever was faster in alternated trials on the
# 2-core reference machine (busy at the time; `versus_keras.py --keras-jit on|off` re-checks):
JIT_COMPILE = {
    "stacked_ae": True,   # XLA fuses the element-wise ops of the dense step: 4.2-6.1 s/epoch vs 7.8-11.5
    "vae": True,          # 3.0-5.2 s/epoch vs 4.1-6.4
    "gan": True,          # 11.8-15.7 s/epoch vs 11.7-25.3
    "conv_ae": False,     # oneDNN's convolutions: 38-51 s/epoch vs 48-62 with XLA's
    "dcgan": False,       # 517-588 s/epoch vs 2,950-3,540 with XLA's
}

# Parameters of the book's models, counted from its layer definitions, as its model.summary()
# reports them (all weights, then the trainable ones: the DCGAN generator's batch normalisation
# keeps 2 x (128 + 64) moving statistics).
BOOK_PARAMETERS = {
    "stacked_ae": (163_814, 163_814),
    "conv_ae": (46_529, 46_529),
    "vae": (269_504, 269_504),
    "gan": (136_634 + 132_951, 136_634 + 132_951),
    "dcgan": (840_705 + 212_865, 840_321 + 212_865),
}


def configure_tensorflow(threads: int) -> None:
    """Intra- and inter-op threads: call before TensorFlow runs any op.

    versus_keras.py passes PyTorch's default (one thread per physical core) unless --threads
    says otherwise, so both frameworks get the same cores; TensorFlow's own default would be
    one per logical CPU for each pool.
    """
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def rounded_accuracy(y_true, y_pred):
    """The book's metric: binary accuracy of round(x) against round(x_hat)."""
    return keras.metrics.binary_accuracy(ops.round(y_true), ops.round(y_pred))


# ---------------------------------------------------------------------------------------------
# The book's models
# ---------------------------------------------------------------------------------------------

def build_stacked_ae():
    stacked_encoder = keras.Sequential([
        keras.Input([28, 28]),
        layers.Flatten(),
        layers.Dense(100, activation="selu"),
        layers.Dense(30, activation="selu"),
    ], name="stacked_encoder")
    stacked_decoder = keras.Sequential([
        keras.Input([30]),
        layers.Dense(100, activation="selu"),
        layers.Dense(28 * 28, activation="sigmoid"),
        layers.Reshape([28, 28]),
    ], name="stacked_decoder")
    stacked_ae = keras.Sequential([stacked_encoder, stacked_decoder], name="stacked_ae")
    stacked_ae.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=1.5),
                       metrics=[rounded_accuracy])
    return stacked_ae


def build_conv_ae():
    conv_encoder = keras.Sequential([
        keras.Input([28, 28]),
        layers.Reshape([28, 28, 1]),
        layers.Conv2D(16, kernel_size=3, padding="same", activation="selu"),
        layers.MaxPool2D(pool_size=2),
        layers.Conv2D(32, kernel_size=3, padding="same", activation="selu"),
        layers.MaxPool2D(pool_size=2),
        layers.Conv2D(64, kernel_size=3, padding="same", activation="selu"),
        layers.MaxPool2D(pool_size=2),
    ], name="conv_encoder")
    conv_decoder = keras.Sequential([
        keras.Input([3, 3, 64]),
        layers.Conv2DTranspose(32, kernel_size=3, strides=2, padding="valid", activation="selu"),
        layers.Conv2DTranspose(16, kernel_size=3, strides=2, padding="same", activation="selu"),
        layers.Conv2DTranspose(1, kernel_size=3, strides=2, padding="same", activation="sigmoid"),
        layers.Reshape([28, 28]),
    ], name="conv_decoder")
    conv_ae = keras.Sequential([conv_encoder, conv_decoder], name="conv_ae")
    conv_ae.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=1.0),
                    metrics=[rounded_accuracy])
    return conv_ae


class Sampling(layers.Layer):
    """The book's Sampling layer; it also adds the book's latent loss, which Keras 3 accepts
    only from inside a layer (the book called variational_ae.add_loss on symbolic tensors)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(42)

    def call(self, inputs):
        mean, log_var = inputs
        latent_loss = -0.5 * ops.sum(1 + log_var - ops.exp(log_var) - ops.square(mean), axis=-1)
        self.add_loss(ops.mean(latent_loss) / 784.0)
        return keras.random.normal(ops.shape(log_var), seed=self.seed_generator) * ops.exp(log_var / 2) + mean


def build_vae():
    codings_size = 10
    inputs = keras.Input(shape=[28, 28])
    z = layers.Flatten()(inputs)
    z = layers.Dense(150, activation="selu")(z)
    z = layers.Dense(100, activation="selu")(z)
    codings_mean = layers.Dense(codings_size)(z)
    codings_log_var = layers.Dense(codings_size)(z)
    codings = Sampling()([codings_mean, codings_log_var])
    variational_encoder = keras.Model(inputs=[inputs], outputs=[codings_mean, codings_log_var, codings],
                                      name="variational_encoder")
    decoder_inputs = keras.Input(shape=[codings_size])
    x = layers.Dense(100, activation="selu")(decoder_inputs)
    x = layers.Dense(150, activation="selu")(x)
    x = layers.Dense(28 * 28, activation="sigmoid")(x)
    outputs = layers.Reshape([28, 28])(x)
    variational_decoder = keras.Model(inputs=[decoder_inputs], outputs=[outputs], name="variational_decoder")
    _, _, codings = variational_encoder(inputs)
    reconstructions = variational_decoder(codings)
    variational_ae = keras.Model(inputs=[inputs], outputs=[reconstructions], name="variational_ae")
    variational_ae.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=[rounded_accuracy])
    return variational_ae


def build_gan():
    """(gan, coding size): the book's simple GAN, compiled as the book compiles it."""
    codings_size = 30
    generator = keras.Sequential([
        keras.Input([codings_size]),
        layers.Dense(100, activation="selu"),
        layers.Dense(150, activation="selu"),
        layers.Dense(28 * 28, activation="sigmoid"),
        layers.Reshape([28, 28]),
    ], name="generator")
    discriminator = keras.Sequential([
        keras.Input([28, 28]),
        layers.Flatten(),
        layers.Dense(150, activation="selu"),
        layers.Dense(100, activation="selu"),
        layers.Dense(1, activation="sigmoid"),
    ], name="discriminator")
    return _compile_gan(generator, discriminator), codings_size


def build_dcgan():
    """(gan, coding size): the book's DCGAN, compiled as the book compiles it."""
    codings_size = 100
    generator = keras.Sequential([
        keras.Input([codings_size]),
        layers.Dense(7 * 7 * 128),
        layers.Reshape([7, 7, 128]),
        layers.BatchNormalization(),
        layers.Conv2DTranspose(64, kernel_size=5, strides=2, padding="same", activation="selu"),
        layers.BatchNormalization(),
        layers.Conv2DTranspose(1, kernel_size=5, strides=2, padding="same", activation="tanh"),
    ], name="generator")
    discriminator = keras.Sequential([
        keras.Input([28, 28, 1]),
        layers.Conv2D(64, kernel_size=5, strides=2, padding="same", activation=layers.LeakyReLU(0.2)),
        layers.Dropout(0.4),
        layers.Conv2D(128, kernel_size=5, strides=2, padding="same", activation=layers.LeakyReLU(0.2)),
        layers.Dropout(0.4),
        layers.Flatten(),
        layers.Dense(1, activation="sigmoid"),
    ], name="discriminator")
    return _compile_gan(generator, discriminator), codings_size


def _compile_gan(generator, discriminator):
    gan = keras.Sequential([generator, discriminator], name="gan")
    discriminator.compile(loss="binary_crossentropy", optimizer="rmsprop")
    discriminator.trainable = False
    gan.compile(loss="binary_crossentropy", optimizer="rmsprop")
    return gan


AUTOENCODERS = {"stacked_ae": build_stacked_ae, "conv_ae": build_conv_ae, "vae": build_vae}
GANS = {"gan": build_gan, "dcgan": build_dcgan}


def parameter_counts(model) -> tuple[int, int]:
    """(all weights, trainable ones), whatever the `trainable` flags are set to now."""
    total = sum(math.prod(w.shape) for w in model.weights)
    statistics = sum(math.prod(w.shape) for w in model.weights if "moving_" in w.path)
    return total, total - statistics


def describe_models() -> list[str]:
    """Each seed model's layers (output shape, parameters) and its totals against the book's."""
    lines = []
    for name, builder in {**AUTOENCODERS, **GANS}.items():
        built = builder()
        model = built[0] if isinstance(built, tuple) else built
        lines.append(f"{name}:")
        for sub in model.layers:
            inner = sub.layers if isinstance(sub, keras.Model) else [sub]
            for layer in inner:
                if isinstance(layer, layers.InputLayer):
                    continue
                shape = tuple(layer.output.shape) if hasattr(layer, "output") else "?"
                owner = f"{sub.name}/" if sub is not layer else ""
                lines.append(f"  {owner + layer.name:<40}{str(shape):<22}{layer.count_params():>10,}")
        total, trainable = parameter_counts(model)
        book_total, book_trainable = BOOK_PARAMETERS[name]
        verdict = "matches the book" if (total, trainable) == (book_total, book_trainable) else "DIFFERS from the book"
        lines.append(f"  total {total:,} (trainable {trainable:,}); book {book_total:,} "
                     f"(trainable {book_trainable:,}): {verdict}")
        keras.backend.clear_session()
    return lines


# ---------------------------------------------------------------------------------------------
# Timings. Each returns seconds per epoch and what was measured.
# ---------------------------------------------------------------------------------------------

def time_seed_autoencoder(name: str, images: np.ndarray, batch_size: int, steps: int, warmup: int) -> dict:
    """The book's model.fit(X_train, X_train), one epoch over slices of the training images.

    A fit of `steps` batches and a fit of one batch give the time per step and the fixed cost of
    a fit call (data adapter, callbacks); the epoch is one fixed cost plus epoch_steps steps.
    The warm-up fit ends on a partial batch, so that the second trace Keras makes for the
    epoch's last, smaller batch is done before timing, as in every epoch after the first.
    """
    x = images.astype(np.float32) / 255.0
    epoch_steps = math.ceil(len(x) / batch_size)
    steps = min(steps, epoch_steps)
    model = AUTOENCODERS[name]()
    warm = x[:warmup * batch_size + len(x) % batch_size]
    model.fit(warm, warm, batch_size=batch_size, epochs=1, verbose=0)
    one = x[:batch_size]
    start = time.perf_counter()
    model.fit(one, one, batch_size=batch_size, epochs=1, verbose=0)
    one_step = time.perf_counter() - start
    timed = x[:steps * batch_size]
    start = time.perf_counter()
    history = model.fit(timed, timed, batch_size=batch_size, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    timed_steps = math.ceil(len(timed) / batch_size)
    per_step = (seconds - one_step) / (timed_steps - 1) if timed_steps > 1 else 0.0
    if timed_steps == epoch_steps:
        per_epoch = seconds
    elif per_step > 0:
        per_epoch = one_step + per_step * (epoch_steps - 1)
    else:  # too few steps to tell them from the fit call's own cost: scale the whole fit
        per_epoch = seconds * epoch_steps / timed_steps
    total, trainable = parameter_counts(model)
    return {"seconds_per_epoch": per_epoch, "timed_seconds": seconds, "timed_steps": timed_steps,
            "epoch_steps": epoch_steps, "fit_call_seconds": one_step, "loss": float(history.history["loss"][-1]),
            "parameters": trainable, "parameters_all": total}


def _time_compiled_steps(train_step, batch_size: int, batches: int, warmup: int, steps: int):
    """(seconds, losses, steps): `steps` calls of a compiled step on batches, after `warmup` calls.

    Each batch start is its own constant, so XLA compiles the step once, not once per start.
    """
    starts = [tf.constant(index * batch_size) for index in range(batches)]
    for index in range(warmup):
        train_step(starts[index % batches])
    steps = min(steps, batches)
    start = time.perf_counter()
    losses = [train_step(starts[(warmup + index) % batches]) for index in range(steps)]
    return time.perf_counter() - start, losses, steps


def time_tuned_autoencoder(name: str, images: np.ndarray, batch_size: int, steps: int, warmup: int) -> dict:
    x = tf.constant(images.astype(np.float32) / 255.0)
    epoch_steps = math.ceil(len(images) / batch_size)
    full_steps = len(images) // batch_size
    model = AUTOENCODERS[name]()
    optimizer = model.optimizer
    loss_function = keras.losses.BinaryCrossentropy()
    variables = model.trainable_variables
    permutation = tf.Variable(tf.random.shuffle(tf.range(len(images))))
    offsets = tf.range(batch_size)  # start + offsets: no compile-time constant, so XLA compiles once

    @tf.function(jit_compile=JIT_COMPILE[name])
    def train_step(start):
        batch = tf.gather(x, tf.gather(permutation, start + offsets))
        with tf.GradientTape() as tape:
            reconstructions = model(batch, training=True)
            if isinstance(reconstructions, (list, tuple)):  # the VAE's outputs=[reconstructions]
                reconstructions = reconstructions[0]
            loss = loss_function(batch, reconstructions)
            if model.losses:
                loss = loss + tf.add_n(model.losses)
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables))
        return loss

    seconds, losses, steps = _time_compiled_steps(train_step, batch_size, full_steps, warmup, steps)
    total, trainable = parameter_counts(model)
    return {"seconds_per_epoch": seconds * epoch_steps / steps, "timed_seconds": seconds, "timed_steps": steps,
            "epoch_steps": epoch_steps, "loss": float(losses[-1]), "jit_compile": JIT_COMPILE[name],
            "parameters": trainable, "parameters_all": total}


def _gan_images(name: str, images: np.ndarray) -> np.ndarray:
    x = images.astype(np.float32) / 255.0
    return x.reshape(-1, 28, 28, 1) * 2.0 - 1.0 if name == "dcgan" else x  # the book's X_train_dcgan


def time_seed_gan(name: str, images: np.ndarray, batch_size: int, steps: int, warmup: int) -> dict:
    """The book's train_gan loop, over the first warmup + steps batches of its dataset (repeated, so
    a whole epoch can be timed after the warm-up)."""
    gan, codings_size = GANS[name]()
    total, trainable = parameter_counts(gan)
    x = _gan_images(name, images)
    epoch_steps = len(x) // batch_size  # the book's dataset drops the last partial batch
    steps = min(steps, epoch_steps)
    dataset = tf.data.Dataset.from_tensor_slices(x).shuffle(1000)
    dataset = dataset.batch(batch_size, drop_remainder=True).repeat().prefetch(1)
    generator, discriminator = gan.layers
    batches = iter(dataset)

    def train_batch(X_batch):  # the body of the book's loop, unchanged
        # phase 1 - training the discriminator
        noise = tf.random.normal(shape=[batch_size, codings_size])
        generated_images = generator(noise)
        X_fake_and_real = tf.concat([generated_images, X_batch], axis=0)
        y1 = tf.constant([[0.]] * batch_size + [[1.]] * batch_size)
        discriminator.trainable = True
        discriminator.train_on_batch(X_fake_and_real, y1)
        # phase 2 - training the generator
        noise = tf.random.normal(shape=[batch_size, codings_size])
        y2 = tf.constant([[1.]] * batch_size)
        discriminator.trainable = False
        return gan.train_on_batch(noise, y2)

    for _ in range(warmup):
        train_batch(next(batches))
    start = time.perf_counter()
    for _ in range(steps):
        loss = train_batch(next(batches))
    seconds = time.perf_counter() - start
    return {"seconds_per_epoch": seconds * epoch_steps / steps, "timed_seconds": seconds, "timed_steps": steps,
            "epoch_steps": epoch_steps, "loss": float(np.asarray(loss).ravel()[0]),
            "parameters": trainable, "parameters_all": total}


def time_tuned_gan(name: str, images: np.ndarray, batch_size: int, steps: int, warmup: int) -> dict:
    """Both phases in one tf.function call; the same models, optimizers and losses as the seed."""
    gan, codings_size = GANS[name]()
    generator, discriminator = gan.layers
    discriminator.trainable = True  # frozen only by what each phase differentiates
    total, trainable = parameter_counts(gan)
    optimizer_d, optimizer_g = discriminator.optimizer, gan.optimizer
    x = tf.constant(_gan_images(name, images))
    epoch_steps = len(images) // batch_size
    loss_function = keras.losses.BinaryCrossentropy()
    labels_d = tf.constant([[0.]] * batch_size + [[1.]] * batch_size)
    labels_g = tf.ones([batch_size, 1])
    permutation = tf.Variable(tf.random.shuffle(tf.range(len(images))))
    offsets = tf.range(batch_size)
    d_variables, g_variables = discriminator.trainable_variables, generator.trainable_variables

    @tf.function(jit_compile=JIT_COMPILE[name])
    def train_step(start):
        real = tf.gather(x, tf.gather(permutation, start + offsets))
        # phase 1: the discriminator on fakes (0) and reals (1)
        fakes = generator(tf.random.normal([batch_size, codings_size]), training=True)
        with tf.GradientTape() as tape:
            d_loss = loss_function(labels_d, discriminator(tf.concat([fakes, real], axis=0), training=True))
        optimizer_d.apply_gradients(zip(tape.gradient(d_loss, d_variables), d_variables))
        # phase 2: the generator through the discriminator, its fakes labelled 1
        with tf.GradientTape() as tape:
            images_g = generator(tf.random.normal([batch_size, codings_size]), training=True)
            g_loss = loss_function(labels_g, discriminator(images_g, training=True))
        optimizer_g.apply_gradients(zip(tape.gradient(g_loss, g_variables), g_variables))
        return d_loss, g_loss

    seconds, losses, steps = _time_compiled_steps(train_step, batch_size, epoch_steps, warmup, steps)
    return {"seconds_per_epoch": seconds * epoch_steps / steps, "timed_seconds": seconds, "timed_steps": steps,
            "epoch_steps": epoch_steps, "loss": float(losses[-1][1]), "jit_compile": JIT_COMPILE[name],
            "parameters": trainable, "parameters_all": total}


def time_peer(contender: str, name: str, images: np.ndarray, batch_size: int, steps: int, warmup: int,
              jit_compile: bool | None = None) -> dict:
    """Seconds per epoch of `contender` ('keras-seed' or 'keras-tuned') training model `name`;
    `jit_compile` overrides JIT_COMPILE for the tuned step."""
    if jit_compile is not None:
        JIT_COMPILE[name] = jit_compile
    gan = name in GANS
    if contender == "keras-seed":
        timer = time_seed_gan if gan else time_seed_autoencoder
    else:
        timer = time_tuned_gan if gan else time_tuned_autoencoder
    keras.utils.set_random_seed(0)
    return timer(name, images, batch_size, steps, warmup)
