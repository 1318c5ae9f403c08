"""ament_python metadata.

colcon installs the executables to lib/<package> for `ros2 run`; pip puts them on PATH.
"""

from setuptools import find_packages, setup

PACKAGE = "lerobot_policy"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    package_data={PACKAGE: ["py.typed"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=[
        "setuptools",
        "numpy",
        "PyYAML",
        "matplotlib",
        "packaging",
        "tqdm",
        "transformers",
        "torch",
        "safetensors",
        "tokenizers",
        "pyarrow",
    ],
    extras_require={"test": ["pytest"]},  # `colcon test` runs pytest
    zip_safe=False,
    description=(
        "A fused pi0.5-style vision-language-action model, its training, and a policy node that "
        "publishes timed action chunks."
    ),
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "lerobot_policy_train = lerobot_policy.train_cli:main",
            "lerobot_policy_node = lerobot_policy.nodes.policy_node:main",
        ]
    },
)
