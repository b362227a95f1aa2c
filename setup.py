from setuptools import find_packages, setup

setup(
    name="fjd",
    version="0.3.0",
    description="File-based job distribution: many jobs, many cores, one shared folder",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["fjd", "fjd.*"]),
    python_requires=">=3.8",
    entry_points={"console_scripts": ["fjd = fjd.cli:main"]},
    extras_require={"test": ["pytest>=7", "pytest-timeout"]},
    classifiers=["Programming Language :: Python :: 3", "Operating System :: POSIX :: Linux"],
)
