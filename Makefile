# Entry points: `make demo` (the main job) and `make test` (the whole suite). Each installs the
# Debian packages it needs first (as root), then builds with CMake into build/.
DEB_PACKAGES := build-essential cmake pkg-config clang libclang-rt-14-dev \
  nlohmann-json3-dev libfmt-dev libcli11-dev libyaml-cpp-dev zlib1g-dev libpcre2-dev \
  libutf8proc-dev libhwy-dev libgtest-dev libgmock-dev \
  libcairo2-dev libcpp-httplib-dev libopenmpi-dev openmpi-bin python3-jinja2 python3-numpy \
  curl chromium
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
MODEL := assets/brown-llama-12l
ENCORE := $(BUILD_DIR)/encore

.PHONY: all deps build test demo fuzz bench clean format

all: build

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	command -v node >/dev/null && command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	bash tests/run_all.sh $(BUILD_DIR)

demo: build
	bash tools/demo.sh $(ENCORE) $(MODEL)

bench: build
	$(ENCORE) bench --help

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf $(BUILD_DIR) build-fuzz
