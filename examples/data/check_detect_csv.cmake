# Runs detect_csv on sensor.csv (as a file argument, then on standard input) and on
# bom_no_header.csv, and checks
#  - stdout equals sensor.expected.csv byte for byte: 113 scored rows; the only anomalies are the
#    +8 spike at 01:00 (z ≈ 22.7) and the first 7 samples of the +5 shift at 01:30, after which the
#    rolling baseline has absorbed the new level (checked by hand against make_sensor_csv.py);
#  - stderr reports every bad row with its line number, and the summary.
# Usage: cmake -DEXE=<detect_csv> -DDATA_DIR=<examples/data> -P check_detect_csv.cmake
foreach(var EXE DATA_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_detect_csv: -D${var}=... is required")
  endif()
endforeach()

file(READ "${DATA_DIR}/sensor.expected.csv" expected)
set(expected_errors
    "line 17: value 'abc' is not a number, skipped"
    "line 27: value '' is not a number, skipped"
    "line 39: expected 2 fields 'timestamp,value', skipped"
    "line 49: value '12.5x' is not a number, skipped"
    "line 59: empty timestamp, skipped"
    "line 69: non-finite value 'nan' rejected"
    "line 79: expected 2 fields 'timestamp,value', skipped"
    "113 rows scored, 8 anomalies in 2 episodes, 6 bad rows, 1 rejected")

foreach(mode file stdin)
  if(mode STREQUAL "file")
    execute_process(COMMAND "${EXE}" "${DATA_DIR}/sensor.csv" OUTPUT_VARIABLE out ERROR_VARIABLE err
                    RESULT_VARIABLE rc)
  else()
    execute_process(COMMAND "${EXE}" INPUT_FILE "${DATA_DIR}/sensor.csv" OUTPUT_VARIABLE out
                    ERROR_VARIABLE err RESULT_VARIABLE rc)
  endif()
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "detect_csv (${mode}) exited with ${rc}\n${err}")
  endif()
  if(NOT out STREQUAL expected)
    file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/detect_csv_${mode}.out" "${out}")
    message(FATAL_ERROR "detect_csv (${mode}): stdout differs from sensor.expected.csv; got "
                        "${CMAKE_CURRENT_BINARY_DIR}/detect_csv_${mode}.out")
  endif()
  foreach(line IN LISTS expected_errors)
    string(FIND "${err}" "${line}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "detect_csv (${mode}): stderr lacks \"${line}\"; stderr was:\n${err}")
    endif()
  endforeach()
endforeach()

# A headerless file that starts with a UTF-8 byte-order mark: the BOM is not part of the first
# timestamp, and the first row is data. By hand: z is NaN until two samples are learned; the third
# value 1.5 is the mean of {1, 2}, so z = 0 and score = 0.
execute_process(COMMAND "${EXE}" "${DATA_DIR}/bom_no_header.csv" OUTPUT_VARIABLE out ERROR_VARIABLE err
                RESULT_VARIABLE rc)
set(bom_expected "timestamp,value,z,score,anomaly\n2026-01-01,1,nan,0.000000,0\n2026-01-02,2,nan,0.000000,0\n2026-01-03,1.5,0.0000,0.000000,0\n")
if(NOT rc EQUAL 0 OR NOT out STREQUAL bom_expected)
  message(FATAL_ERROR "detect_csv (BOM, no header): exit ${rc}, stdout:\n${out}\nstderr:\n${err}")
endif()

# A missing file is an error (exit 1), not a crash.
execute_process(COMMAND "${EXE}" "${DATA_DIR}/no_such_file.csv" OUTPUT_QUIET ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 1 OR NOT err MATCHES "cannot open")
  message(FATAL_ERROR "detect_csv: a missing file should exit 1 with 'cannot open', got ${rc}: ${err}")
endif()
message(STATUS "detect_csv: output and error reports as expected (file and stdin)")
