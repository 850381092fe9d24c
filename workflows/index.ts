// The worker's workflowsPath: every workflow type Parcours registers.
export { journeyWorkflow } from './journey';
export { segmentClockWorkflow } from './segment-clock';
export { calendarClockWorkflow } from './calendar-clock';
export { campaignRunWorkflow, campaignScheduleWorkflow } from './campaign';
export { segmentBuildWorkflow } from './segment-build';
export { flowStatusWorkflow } from './flow-status';
export { maintenanceWorkflow } from './maintenance';
