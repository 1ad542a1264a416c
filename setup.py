"""Build of ads_bench and its one extension module, ads_bench._C.

C++ CPU kernels are always built. CUDA kernels are built when the installed torch is a CUDA build and
a CUDA toolkit is found (never decided by whether a GPU is visible, so a GPU-less build host with a
CUDA torch still builds them). ``ADS_BENCH_CUDA=0`` or ``=1`` overrides the decision; ``=1`` fails
loudly when it cannot be honoured. Install with ``pip install --no-build-isolation .`` so the build
uses the torch already installed instead of downloading one into an isolated build environment.
"""

import glob
import os

import torch
from setuptools import find_packages, setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join("csrc")


def _want_cuda() -> bool:
    override = os.environ.get("ADS_BENCH_CUDA", "").strip()
    available = torch.version.cuda is not None and CUDA_HOME is not None
    if override == "0":
        return False
    if override == "1":
        if not available:
            raise RuntimeError(
                "ADS_BENCH_CUDA=1 but a CUDA build cannot be made: "
                f"torch.version.cuda={torch.version.cuda!r}, CUDA_HOME={CUDA_HOME!r}"
            )
        return True
    if override:
        raise RuntimeError(f"ADS_BENCH_CUDA must be 0 or 1, got {override!r}")
    return available


def _extension():
    with_cuda = _want_cuda()
    sources = [
        os.path.join(CSRC, "ops.cpp"),
        # the ops' argument preparation, shared by the CPU kernels and the CUDA bindings
        *sorted(glob.glob(os.path.join(CSRC, "prepare", "*.cpp"))),
        *sorted(glob.glob(os.path.join(CSRC, "cpu", "*.cpp"))),
    ]
    include_dirs = [os.path.join(HERE, CSRC, "include")]
    # -fno-trapping-math lets the compiler if-convert and vectorise the clamps of exp_float (we never
    # rely on floating-point exception flags); NaN and inf semantics are unchanged.
    cxx = ["-O3", "-Wall", "-Wextra", "-fno-trapping-math"]
    # ADS_BENCH_WERROR=1 (CI's CUDA build check, .ci/cuda_build): host warnings are errors too.
    werror = os.environ.get("ADS_BENCH_WERROR", "").strip() == "1"
    if werror:
        cxx.append("-Werror")
        # PyTorch's (and the toolkit's) headers are not -Wextra clean: make them system headers (an
        # -isystem folder also given with -I is searched as a system one), so -Werror judges ours.
        from torch.utils.cpp_extension import include_paths

        for path in include_paths("cuda" if with_cuda else "cpu"):
            cxx += ["-isystem", path]
    if not with_cuda:
        return CppExtension(
            "ads_bench._C", sources, include_dirs=include_dirs, extra_compile_args={"cxx": cxx}
        )
    sources += sorted(glob.glob(os.path.join(CSRC, "cuda", "*.cu")))
    sources += sorted(glob.glob(os.path.join(CSRC, "cuda", "*.cpp")))
    major, minor = (int(v) for v in torch.version.cuda.split(".")[:2])
    macros = [
        ("ADS_BENCH_WITH_CUDA", None),
        ("ADS_BENCH_CUDA_VERSION", str(major * 1000 + minor * 10)),
    ]
    archs = [a for a in os.environ.get("ADS_BENCH_CUDA_ARCHS", "80;90").split(";") if a.strip()]
    # Device code: every nvcc warning is an error, and so is every ptxas warning, a register spill
    # included (-warn-spills reports one, -Werror fails on it).
    nvcc = ["-O3", "-Werror=all-warnings", "-Xptxas=-warn-spills,-Werror"]
    if werror:
        nvcc.append("-Xcompiler=-Wall,-Wextra,-Werror")
    # Explicit -gencode flags also stop torch from guessing architectures from the visible GPUs
    # (there may be none: the build host need not have one).
    for arch in archs:
        arch = arch.strip()
        nvcc.append(f"-gencode=arch=compute_{arch},code=sm_{arch}")
    return CUDAExtension(
        "ads_bench._C",
        sources,
        include_dirs=include_dirs,
        define_macros=macros,
        extra_compile_args={"cxx": cxx, "nvcc": nvcc},
    )


setup(
    name="ads_bench",
    version="0.1.0",
    description="Benchmark reproduction of 'Adaptive Destruction Processes for Diffusion Samplers'",
    long_description=open(os.path.join(HERE, "README.md"), encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["ads_bench", "ads_bench.*", "baselines", "baselines.*"]),
    package_data={"ads_bench.targets": ["data/*.csv"], "ads_bench.published": ["*.csv"]},
    ext_modules=[_extension()],
    cmdclass={"build_ext": BuildExtension},
    install_requires=["torch>=2.4", "numpy", "pot"],
    # The comparison methods of baselines/ join the method registry here (ads_bench never imports
    # baselines; ads_bench.methods finds them through this entry-point group).
    entry_points={
        "ads_bench.methods": [
            "pis = baselines.pis:PIS",
            "pis-lp = baselines.pis:PIS_LP",
            "dis = baselines.dis:DIS",
            "dis-kl = baselines.dis:DIS_KL",
            "dds = baselines.dds:DDS",
        ],
    },
    extras_require={
        # reproduce/: figures (matplotlib/seaborn) and the Ray executor of the sweep runner
        "reproduce": ["matplotlib", "seaborn", "ray", "scikit-learn"],
        "test": [
            "pytest",
            "pytest-benchmark",
            "pytest-xdist",
            "ninja",
            "ruff",
            "scipy",
            "matplotlib",
            "seaborn",
            "ray",
            "scikit-learn",
        ],
    },
    zip_safe=False,
)
