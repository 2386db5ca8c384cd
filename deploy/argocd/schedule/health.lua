-- Argo CD health check for ml.jobreset.io/JobResetSchedule (install: deploy/argocd/README.md).
-- A schedule is Healthy while it is in effect, Suspended while spec.suspend is true, Degraded
-- when it cannot run (an invalid schedule, an unknown time zone), and Progressing until the
-- operator has seen its latest generation. A failed run shows on that run's JobReset.
local hs = {}
local status = obj.status
local function condition(type)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end
local ready = condition("Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to pick the JobResetSchedule up"
  return hs
end
local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end
local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = (stalled.reason or "Stalled") .. ": " .. (stalled.message or "")
  return hs
end
local suspended = condition("Suspended")
if suspended ~= nil and suspended.status == "True" then
  hs.status = "Suspended"
  hs.message = "Suspended: no new runs until spec.suspend is false"
  return hs
end
hs.status = "Healthy"
local active = status.activeCount or 0
hs.message = (ready.message or "scheduled") .. " (" .. tostring(active) .. " running)"
return hs
