# In-source builds are refused: they litter the tree and break the packaging tests.
if(CMAKE_SOURCE_DIR STREQUAL CMAKE_BINARY_DIR)
  message(FATAL_ERROR "In-source builds are not supported. Use a preset: cmake --preset dev")
endif()
