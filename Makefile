# `sam build` runs build-DedupFunction (template.yaml: BuildMethod makefile) in this
# directory; ARTIFACTS_DIR is where SAM wants the function's code. The directory
# scripts/build-lambda writes is deployed as is: the one the integration tests import.
#
# Both architectures' compiled modules are shipped, so the template's Architecture
# parameter needs no rebuild. Your own handler module (UserHandler):
#   LAMBDA_INCLUDE=path/to/my_handler.py sam build
# and its dependencies: LAMBDA_REQUIREMENTS=path/to/requirements.txt

PYTHON ?= python3

build-DedupFunction:
	$(PYTHON) scripts/build-lambda "$(ARTIFACTS_DIR)" --python-version 3.12 --arch all \
		$(foreach path,$(LAMBDA_INCLUDE),--include $(path)) \
		$(foreach path,$(LAMBDA_REQUIREMENTS),--requirements $(path))

.PHONY: build-DedupFunction
